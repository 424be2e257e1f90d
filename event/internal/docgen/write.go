package docgen

import (
	"math/rand/v2"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the JSON type of a node.
type kind uint8

const (
	kObject kind = iota
	kArray
	kString
	kNumber
	kLiteral // true, false or null, spelled in node.raw
)

// escaping says how the characters of a string are spelled in JSON.
type escaping uint8

const (
	escMinimal escaping = iota // only what JSON requires: quote, backslash, control characters
	escSome                    // about one character in four as \uXXXX (surrogate pairs beyond U+FFFF) or \/
	escAll                     // every character as an escape
)

// node is one JSON value of a document being built: its spelling is controlled (numbers keep their digits,
// strings their escapes), and it remembers the schemas that apply at its location for the mutations.
type node struct {
	kind    kind
	members []*member // kObject, in output order
	items   []*node   // kArray
	str     string    // kString: the decoded value
	rawStr  string    // kString: when set, the exact characters between the quotes (overrides str)
	esc     escaping  // kString
	raw     string    // kNumber, kLiteral: the exact spelling
	set     set       // the schemas that apply here; nil when none do
}

// member is one member of an object: its name, how the name is spelled, and its value.
type member struct {
	name    string
	nameEsc escaping
	value   *node
}

// member returns the member of an object node named name, or nil.
func (n *node) member(name string) *member {
	for _, m := range n.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// writer renders nodes as JSON text. Insignificant white space is added between tokens when spaced is set.
type writer struct {
	buf    []byte
	r      *rand.Rand
	spaced bool
}

// space writes some JSON white space, or none.
func (w *writer) space() {
	if !w.spaced {
		return
	}
	for range w.r.IntN(3) {
		w.buf = append(w.buf, " \t\n\r"[w.r.IntN(4)])
	}
}

func (w *writer) value(n *node) {
	switch n.kind {
	case kObject:
		w.buf = append(w.buf, '{')
		for i, m := range n.members {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.space()
			w.string(m.name, "", m.nameEsc)
			w.space()
			w.buf = append(w.buf, ':')
			w.space()
			w.value(m.value)
			w.space()
		}
		w.buf = append(w.buf, '}')
	case kArray:
		w.buf = append(w.buf, '[')
		for i, it := range n.items {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.space()
			w.value(it)
			w.space()
		}
		w.buf = append(w.buf, ']')
	case kString:
		w.string(n.str, n.rawStr, n.esc)
	default:
		w.buf = append(w.buf, n.raw...)
	}
}

// string writes a JSON string: raw verbatim between quotes when set, else s escaped as esc says.
func (w *writer) string(s, raw string, esc escaping) {
	w.buf = append(w.buf, '"')
	if raw != "" {
		w.buf = append(w.buf, raw...)
		w.buf = append(w.buf, '"')
		return
	}
	for _, c := range s {
		// The quote, the backslash and control characters are escaped whatever esc says.
		escape := esc == escAll || (esc == escSome && w.r.IntN(4) == 0)
		switch {
		case c == '"' || c == '\\':
			w.buf = append(w.buf, '\\', byte(c))
		case c < 0x20:
			w.control(c)
		case !escape:
			w.buf = utf8.AppendRune(w.buf, c)
		case c == '/' && w.r.IntN(2) == 0:
			w.buf = append(w.buf, '\\', '/')
		case c > 0xFFFF:
			hi, lo := utf16.EncodeRune(c)
			w.unicode(hi)
			w.unicode(lo)
		default:
			w.unicode(c)
		}
	}
	w.buf = append(w.buf, '"')
}

// shortEscapes are the two-character escapes of control characters.
var shortEscapes = map[rune]byte{'\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}

// control writes a control character with its short escape when it has one.
func (w *writer) control(c rune) {
	if b, ok := shortEscapes[c]; ok && w.r.IntN(4) != 0 {
		w.buf = append(w.buf, '\\', b)
		return
	}
	w.unicode(c)
}

// unicode writes \uXXXX, in upper- or lower-case hexadecimal.
func (w *writer) unicode(c rune) {
	h := strconv.FormatInt(int64(c)|0x10000, 16)[1:]
	if w.r.IntN(4) == 0 {
		b := []byte(h)
		for i, x := range b {
			if x >= 'a' {
				b[i] = x - 'a' + 'A'
			}
		}
		h = string(b)
	}
	w.buf = append(w.buf, '\\', 'u')
	w.buf = append(w.buf, h...)
}
