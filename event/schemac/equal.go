package schemac

import (
	"bytes"
	"unicode/utf8"
)

// equal compares the JSON values starting at a[ai] and b[bi], both already scanned, as the reference compares
// decoded values: numbers by value, strings decoded, objects as maps (where a duplicate name keeps its last
// value). sure is false when the fast pass cannot tell (duplicate names, numbers beyond its limits).
func (st *state) equal(a []byte, ai int, b []byte, bi int) (eq, sure bool) {
	ka, kb := kindAt(a[ai]), kindAt(b[bi])
	if ka != kb {
		return false, true
	}
	switch ka {
	case kNull:
		return true, true
	case kBool:
		return a[ai] == b[bi], true
	case kNumber:
		ae, _ := scanNumber(a, ai)
		be, _ := scanNumber(b, bi)
		da, ok1 := parseDecimal(a[ai:ae], st.nbuf[:])
		db, ok2 := parseDecimal(b[bi:be], st.nbuf2[:])
		if !ok1 || !ok2 {
			return false, false
		}
		return cmpDec(&da, &db) == 0, true
	case kString:
		return st.strEqual(a, ai, b, bi), true
	case kArray:
		// Item by item; the arrays are equal when both end together.
		ai, bi = skipSpace(a, ai+1), skipSpace(b, bi+1)
		for {
			enda, endb := a[ai] == ']', b[bi] == ']'
			if enda || endb {
				return enda && endb, true
			}
			eq, sure := st.equal(a, ai, b, bi)
			if !eq || !sure {
				return eq, sure
			}
			ai, _ = skipValue(a, ai, 0)
			bi, _ = skipValue(b, bi, 0)
			ai, bi = skipSpace(a, ai), skipSpace(b, bi)
			if a[ai] == ',' {
				ai = skipSpace(a, ai+1)
			}
			if b[bi] == ',' {
				bi = skipSpace(b, bi+1)
			}
		}
	}
	return st.objEqual(a, ai, b, bi)
}

// kindAt returns the kind of the value starting with c.
func kindAt(c byte) kindMask {
	switch c {
	case '{':
		return kObject
	case '[':
		return kArray
	case '"':
		return kString
	case 't', 'f':
		return kBool
	case 'n':
		return kNull
	}
	return kNumber
}

// strEqual compares two string tokens by their decoded values.
func (st *state) strEqual(a []byte, ai int, b []byte, bi int) bool {
	ae, fa, _ := scanString(a, ai)
	be, fb, _ := scanString(b, bi)
	ra, rb := a[ai+1:ae-1], b[bi+1:be-1]
	plain := func(raw []byte, f uint8) bool {
		return f&strEscaped == 0 && (f&strHigh == 0 || utf8.Valid(raw))
	}
	if plain(ra, fa) && plain(rb, fb) {
		return bytes.Equal(ra, rb)
	}
	// Decode both into the scratch buffer, one after the other, and compare the halves.
	st.scratch = unescape(st.scratch[:0], ra)
	n := len(st.scratch)
	st.scratch = unescape(st.scratch, rb)
	return bytes.Equal(st.scratch[:n], st.scratch[n:])
}

// listMembers lists the members of the object at i onto st.spans and returns how many there are.
func (st *state) listMembers(d []byte, i int) int {
	i = skipSpace(d, i+1)
	n := 0
	for d[i] != '}' {
		ne, _, _ := scanString(d, i)
		v := skipSpace(d, skipSpace(d, ne)+1)
		st.spans = append(st.spans, span{start: i, end: ne, val: v})
		n++
		i, _ = skipValue(d, v, 0)
		i = skipSpace(d, i)
		if d[i] == ',' {
			i = skipSpace(d, i+1)
		}
	}
	return n
}

// objEqual compares two objects as maps: the same names, each with equal values, whatever the order. An
// object with a duplicate name is left undecided (sure is false), since only its last value would count.
func (st *state) objEqual(a []byte, ai int, b []byte, bi int) (eq, sure bool) {
	base := len(st.spans)
	defer func() { st.spans = st.spans[:base] }()
	na := st.listMembers(a, ai)
	nb := st.listMembers(b, bi)
	// Duplicate names first: with one, the counts and the values compared below would not be the map's.
	ma, mb := base, base+na
	for x := 0; x < na; x++ {
		for y := 0; y < x; y++ {
			if st.strEqual(a, st.spans[ma+x].start, a, st.spans[ma+y].start) {
				return false, false
			}
		}
	}
	for x := 0; x < nb; x++ {
		for y := 0; y < x; y++ {
			if st.strEqual(b, st.spans[mb+x].start, b, st.spans[mb+y].start) {
				return false, false
			}
		}
	}
	if na != nb {
		return false, true
	}
	for x := 0; x < na; x++ {
		found := false
		for y := 0; y < nb; y++ {
			if !st.strEqual(a, st.spans[ma+x].start, b, st.spans[mb+y].start) {
				continue
			}
			found = true
			eq, sure := st.equal(a, st.spans[ma+x].val, b, st.spans[mb+y].val)
			if !eq || !sure {
				return eq, sure
			}
			break
		}
		if !found {
			return false, true
		}
	}
	return true, true
}
