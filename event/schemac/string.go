package schemac

import "unicode/utf8"

// The string checks of the fast pass. A string's content is what encoding/json decodes (escapes resolved,
// invalid UTF-8 and unpaired surrogates replaced by U+FFFD), because that is what the reference's keywords
// see: lengths count its code points, patterns and formats run on it, const and enum compare it. Most strings
// need no decoding, and their bytes in the document are used as they are.

// content returns the decoded value of the string token [start, end): the bytes themselves when they need no
// decoding, else the decoded text in st.scratch.
func (st *state) content(start, end int, flags uint8) []byte {
	raw := st.data[start+1 : end-1]
	if flags&strEscaped == 0 && (flags&strHigh == 0 || utf8.Valid(raw)) {
		return raw
	}
	st.scratch = unescape(st.scratch[:0], raw)
	return st.scratch
}

// runeCount counts the code points of valid UTF-8 (what content returns): the bytes that do not continue a
// sequence. utf8.RuneCount converts its argument to a string, which allocates for long non-ASCII input.
func runeCount(s []byte) int {
	n := 0
	for _, c := range s {
		if c&0xC0 != 0x80 {
			n++
		}
	}
	return n
}

// str checks a string.
func (st *state) str(c *conj) result {
	start := st.i
	end, flags, ok := scanString(st.data, start)
	if !ok {
		return rBail
	}
	st.i = end
	if !c.strChecks {
		return rOK
	}
	s := st.content(start, end, flags)
	if c.minLen > 0 || c.maxLen >= 0 {
		n := len(s)
		if flags != 0 {
			n = runeCount(s)
		}
		if n < c.minLen || (c.maxLen >= 0 && n > c.maxLen) {
			return rFail
		}
	}
	for _, set := range c.valueSets {
		found := false
		for k := range set {
			if cv := &set[k]; cv.kind == kString && cv.str == string(s) {
				found = true
				break
			}
		}
		if !found {
			return rFail
		}
	}
	for _, f := range c.formats {
		if !f.valid(s) {
			return rFail
		}
	}
	for _, re := range c.patterns {
		if !re.Match(s) {
			return rFail
		}
	}
	return rOK
}
