package schemac

import (
	"bytes"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema validates JSON text. Safe for concurrent use.
type Schema struct {
	root *node
	conj *conj
	b    *builder
	pool sync.Pool // *state
	// printer renders the messages of errors, in English as the event registry renders the reference's. A
	// Printer is read-only once made, so it is shared by concurrent validations.
	printer *message.Printer
}

// newSchema wraps a compiled root.
func newSchema(root *node, c *conj, b *builder) *Schema {
	s := &Schema{root: root, conj: c, b: b, printer: message.NewPrinter(language.English)}
	s.pool.New = func() any { return &state{b: b} }
	return s
}

// Validate checks that data is exactly one well-formed JSON value (surrounding whitespace allowed) that the
// schema accepts. It returns nil, a *SyntaxError (malformed JSON: offset + message), or a *ValidationError.
//
// A valid document is normally accepted by the fast pass alone, without allocating. Everything else (invalid
// or malformed documents, and the rare valid ones the fast pass cannot decide, such as objects with duplicate
// names) goes through the exact pass, which decodes the document and allocates.
func (s *Schema) Validate(data []byte) error {
	if s.fast(data) == rOK {
		return nil
	}
	return s.exact(data)
}

// fast runs the fast pass. Its rFail is not definite: a failure at the top stops the scan at once, since the
// exact pass follows anyway.
func (s *Schema) fast(data []byte) result {
	return s.fastMode(data, 0)
}

// fastMode runs the fast pass; with sub > 0 every rFail is definite, as within a re-scan.
func (s *Schema) fastMode(data []byte, sub int) result {
	st := s.pool.Get().(*state)
	st.data, st.depth, st.sub = data, 0, sub
	st.i = skipSpace(data, 0)
	r := rBail
	if st.i < len(data) {
		r = st.value(s.conj)
		if r == rOK && skipSpace(data, st.i) != len(data) {
			r = rBail
		}
	}
	st.data = nil
	st.bits, st.spans = st.bits[:0], st.spans[:0]
	s.pool.Put(st)
	return r
}

// exact decodes data as the reference does and collects the reference's leaf errors. The decoder is the one
// the reference's users call (jsonschema.UnmarshalJSON), so that what is malformed, how strings decode and
// which of two duplicate names wins are all the reference's.
func (s *Schema) exact(data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		// The decoder decides; the checker places the error (the decoder does not, for trailing data).
		if se := checkSyntax(data); se != nil {
			se.Msg = err.Error()
			return se
		}
		return &SyntaxError{Offset: len(data), Msg: err.Error()}
	}
	var cl collector
	if cl.validate(s.root, v, true) {
		return nil
	}
	return cl.selectLeaf(s.printer)
}

// result is the fast pass's answer for a value.
type result uint8

// The fast pass's answers. rFail is definite: the reference rejects the value. rBail means the fast pass
// cannot tell (malformed JSON, duplicate names, numbers beyond its limits...) and the exact pass decides.
const (
	rOK result = iota
	rFail
	rBail
)

// state is the scratch of one fast pass, pooled.
type state struct {
	b     *builder
	data  []byte
	i     int
	depth int // arrays and objects open around the value at i
	// sub counts the re-scans in progress: within one, a failure is an answer that decides an applicator,
	// so it must be definite.
	sub     int
	scratch []byte
	nbuf    [maxSigDigits]byte
	nbuf2   [maxSigDigits]byte
	bits    []uint64 // a stack of bitsets of names seen
	spans   []span   // a stack of spans: names, items, members
}

// span locates a value (or a name) in the document.
type span struct {
	start, end int
	val        int // for a member: where its value starts
	hash       uint64
}

// value checks the value at st.i against c and leaves st.i after it when the answer is rOK. On any other answer
// st.i is unspecified: callers that go on scanning restart from where the value began.
//
// The first byte gives the value's kind, which "type" may reject at once. The kind's own checks run while
// the value is scanned; the applicators that need the value whole (anyOf, oneOf, not, if) run afterwards, on
// its span.
func (st *state) value(c *conj) result {
	data := st.data
	if c == nil {
		end, ok := skipValue(data, st.i, st.depth)
		st.i = end
		if !ok {
			return rBail
		}
		return rOK
	}
	if st.i >= len(data) {
		return rBail
	}
	if c.never {
		return rFail
	}
	start := st.i
	var r result
	switch data[start] {
	case '{':
		if c.kinds&kObject == 0 {
			return rFail
		}
		r = st.object(c, start)
	case '[':
		if c.kinds&kArray == 0 {
			return rFail
		}
		r = st.array(c)
	case '"':
		if c.kinds&kString == 0 {
			return rFail
		}
		r = st.str(c)
	case 't':
		r = st.literal(c, "true", kBool)
	case 'f':
		r = st.literal(c, "false", kBool)
	case 'n':
		r = st.literal(c, "null", kNull)
	default:
		if c.kinds&kNumber == 0 {
			return rFail
		}
		r = st.number(c)
	}
	if r != rOK || len(c.conds) == 0 {
		return r
	}
	end := st.i
	r = st.conds(c, start)
	st.i = end
	return r
}

// subscan checks the value at start, already scanned (so well-formed), against c. st.i is kept. Within a
// re-scan every failure must be definite (see object.go), which st.sub tells the scanners.
func (st *state) subscan(c *conj, start int) result {
	if c == nil {
		return rOK
	}
	if c.never {
		return rFail
	}
	saved := st.i
	st.i = start
	st.sub++
	r := st.value(c)
	st.sub--
	st.i = saved
	return r
}

// conds evaluates the applicators that re-scan the value's span. Each combines three-valued answers: a
// subschema that cannot be decided (rBail) leaves the applicator undecided unless the others settle it
// anyway (one branch of anyOf that passes, two branches of oneOf that pass).
func (st *state) conds(c *conj, start int) result {
	for k := range c.conds {
		cd := &c.conds[k]
		var r result
		switch cd.kind {
		case cAnyOf:
			r = rFail
			for _, sc := range cd.subs {
				x := st.subscan(sc, start)
				if x == rOK {
					r = rOK
					break
				}
				if x == rBail {
					r = rBail
				}
			}
		case cOneOf:
			matched, bail := 0, false
			for _, sc := range cd.subs {
				switch st.subscan(sc, start) {
				case rOK:
					matched++
				case rBail:
					bail = true
				}
				if matched > 1 {
					break
				}
			}
			switch {
			case matched > 1:
				r = rFail
			case bail:
				r = rBail
			case matched == 1:
				r = rOK
			default:
				r = rFail
			}
		case cNot:
			switch st.subscan(cd.subs[0], start) {
			case rOK:
				r = rFail
			case rFail:
				r = rOK
			default:
				r = rBail
			}
		case cIf:
			switch st.subscan(cd.ifc, start) {
			case rOK:
				r = st.subscan(cd.then, start)
			case rFail:
				r = st.subscan(cd.elsc, start)
			default:
				r = rBail
			}
		}
		if r != rOK {
			return r
		}
	}
	return rOK
}

// literal checks true, false or null: its kind, then const and enum.
func (st *state) literal(c *conj, lit string, k kindMask) result {
	end, ok := scanLiteral(st.data, st.i, lit)
	if !ok {
		return rBail
	}
	if c.kinds&k == 0 {
		return rFail
	}
	st.i = end
	for _, set := range c.valueSets {
		found := false
		for k2 := range set {
			cv := &set[k2]
			if cv.kind == k && (k == kNull || cv.v.(bool) == (lit == "true")) {
				found = true
				break
			}
		}
		if !found {
			return rFail
		}
	}
	return rOK
}
