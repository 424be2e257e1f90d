package schemac

import (
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// formatCheck asserts one format. fast, when set, accepts a subset of the strings the reference accepts and
// needs no allocation; whatever it does not accept is decided by the reference's own function.
type formatCheck struct {
	name string
	fast func([]byte) bool
	ref  func(any) error
}

// newFormatCheck wraps the reference's format f.
func newFormatCheck(f *jsonschema.Format) *formatCheck {
	fc := &formatCheck{name: f.Name, ref: f.Validate}
	switch f.Name {
	case "date-time":
		fc.fast = fastDateTime
	case "date":
		fc.fast = fastDate
	case "time":
		fc.fast = fastTime
	case "uri", "iri":
		fc.fast = func(b []byte) bool { return fastURI(b, true) }
	case "uri-reference", "iri-reference":
		fc.fast = func(b []byte) bool { return fastURI(b, false) }
	case "uuid":
		fc.fast = fastUUID
	}
	return fc
}

// valid reports whether the decoded string s has the format. The reference's function takes the string as
// an interface value, which allocates; the fast checks exist so that common valid values do not.
func (f *formatCheck) valid(s []byte) bool {
	if f.fast != nil && f.fast(s) {
		return true
	}
	return f.ref(string(s)) == nil
}

// digits2 reads two ASCII digits.
func digits2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// fastDate accepts full-date (RFC 3339): yyyy-mm-dd, a real day of the Gregorian calendar.
func fastDate(b []byte) bool {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return false
	}
	hi, ok1 := digits2(b[0:2])
	lo, ok2 := digits2(b[2:4])
	m, ok3 := digits2(b[5:7])
	d, ok4 := digits2(b[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || d < 1 {
		return false
	}
	y := hi*100 + lo
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// fastTime accepts full-time (RFC 3339) without leap seconds: hh:mm:ss, an optional fraction, and Z or an
// offset ±hh:mm.
func fastTime(b []byte) bool {
	if len(b) < 9 || b[2] != ':' || b[5] != ':' {
		return false
	}
	h, ok1 := digits2(b[0:2])
	m, ok2 := digits2(b[3:5])
	s, ok3 := digits2(b[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 59 {
		return false
	}
	b = b[8:]
	if b[0] == '.' {
		n := 1
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		b = b[n:]
	}
	if len(b) == 1 {
		return b[0] == 'Z' || b[0] == 'z'
	}
	if len(b) != 6 || (b[0] != '+' && b[0] != '-') || b[3] != ':' {
		return false
	}
	zh, ok1 := digits2(b[1:3])
	zm, ok2 := digits2(b[4:6])
	return ok1 && ok2 && zh <= 23 && zm <= 59
}

// fastDateTime accepts date-time (RFC 3339) without leap seconds.
func fastDateTime(b []byte) bool {
	return len(b) >= 20 && (b[10] == 'T' || b[10] == 't') && fastDate(b[:10]) && fastTime(b[11:])
}

// fastUUID accepts the 8-4-4-4-12 hexadecimal form.
func fastUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if hexVal[c] < 0 {
			return false
		}
	}
	return true
}

// uriByte marks the bytes fastURI accepts: unreserved, sub-delims, the general delimiters but brackets, and
// the percent sign.
var uriByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:/?#@%" {
		t[c] = true
	}
	return t
}()

// hostByte marks the bytes fastURI accepts in a host name.
var hostByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['.'], t['_'], t['~'] = true, true, true, true
	return t
}()

// fastURI accepts a subset of what net/url.Parse accepts with the reference's extra checks (no backslash; an
// IPv6 host only in brackets; a scheme for "uri"): printable ASCII URI characters without brackets,
// well-formed percent escapes, and an authority without user information whose host is a plain name with an
// optional numeric port.
func fastURI(b []byte, needScheme bool) bool {
	// The scheme, as net/url reads it: a letter, then letters, digits, '+', '-' or '.', then ':'.
	i, scheme := 0, false
	if len(b) > 0 && isAlpha(b[0]) {
		for i = 1; i < len(b); i++ {
			c := b[i]
			if !isAlpha(c) && (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' {
				break
			}
		}
		if i < len(b) && b[i] == ':' {
			scheme = true
			i++
		} else {
			i = 0
		}
	}
	if needScheme && !scheme {
		return false
	}
	// rest is where the part after the scheme starts; without a scheme, the whole reference.
	rest := i
	// The authority, when the part before the query and the fragment starts with "//" (but not "///"
	// without a scheme): a host name and an optional numeric port.
	if i+1 < len(b) && b[i] == '/' && b[i+1] == '/' && (scheme || i+2 >= len(b) || b[i+2] != '/') {
		colon := false
		for i += 2; i < len(b); i++ {
			c := b[i]
			if c == '/' || c == '?' || c == '#' {
				break
			}
			switch {
			case colon:
				if c < '0' || c > '9' {
					return false
				}
			case c == ':':
				colon = true
			case !hostByte[c]:
				return false
			}
		}
	}
	// The rest: URI characters and well-formed escapes. A relative reference must not have a colon in its
	// first segment.
	colonOK := scheme || (rest < len(b) && b[rest] == '/')
	for ; i < len(b); i++ {
		c := b[i]
		if !uriByte[c] {
			return false
		}
		switch c {
		case '%':
			if i+2 >= len(b) || hexVal[b[i+1]] < 0 || hexVal[b[i+2]] < 0 {
				return false
			}
		case ':':
			if !colonOK {
				return false
			}
		case '/', '?', '#':
			colonOK = true
		}
	}
	return true
}

// isAlpha reports an ASCII letter.
func isAlpha(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
