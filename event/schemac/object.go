package schemac

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// nameHash finds the index of a name among a fixed set. A name is summarised by its length and two words:
// its first and last eight bytes (or, when shorter, all its bytes), which identify names of up to 16 bytes
// exactly; the summary is hashed into buckets, each listing its entries.
type nameHash struct {
	names   []string
	shift   uint     // 64 - log2(number of buckets)
	starts  []uint32 // bucket b holds entries[starts[b]:starts[b+1]]
	entries []nameEntry
}

// nameEntry is the summary of one name and its index.
type nameEntry struct {
	lo, hi uint64
	n      int32
	index  int32
}

// newNameHash builds the lookup of names.
func newNameHash(names []string) nameHash {
	h := nameHash{names: names}
	size, logSize := 2, uint(1)
	for size < 2*len(names) {
		size, logSize = size*2, logSize+1
	}
	h.shift = 64 - logSize
	h.starts = make([]uint32, size+1)
	slot := make([]int, len(names))
	for k, name := range names {
		lo, hi := summary([]byte(name))
		slot[k] = int(mix(lo, hi, len(name)) >> h.shift)
		h.starts[slot[k]+1]++
	}
	for b := 1; b <= size; b++ {
		h.starts[b] += h.starts[b-1]
	}
	h.entries = make([]nameEntry, len(names))
	fill := slices.Clone(h.starts)
	for k, name := range names {
		lo, hi := summary([]byte(name))
		h.entries[fill[slot[k]]] = nameEntry{lo: lo, hi: hi, n: int32(len(name)), index: int32(k)}
		fill[slot[k]]++
	}
	return h
}

// summary returns the words that summarise a name: its first and last eight bytes, or its bytes packed in
// one word when it is shorter than eight.
func summary(b []byte) (lo, hi uint64) {
	n := len(b)
	switch {
	case n >= 8:
		return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32, 0
	}
	for _, c := range b {
		lo = lo<<8 | uint64(c)
	}
	return lo, 0
}

// mix hashes a summary.
func mix(lo, hi uint64, n int) uint64 {
	return (lo ^ bits.RotateLeft64(hi, 29) ^ uint64(n)*0x9E3779B97F4A7C15) * 0x94D049BB133111EB
}

// lookup returns the index of name, or -1.
func (o *objConj) lookup(name []byte) int {
	h := &o.hash
	lo, hi := summary(name)
	b := mix(lo, hi, len(name)) >> h.shift
	for j := h.starts[b]; j < h.starts[b+1]; j++ {
		e := &h.entries[j]
		if e.lo != lo || e.hi != hi || int(e.n) != len(name) {
			continue
		}
		if len(name) <= 16 || h.names[e.index] == string(name) {
			return int(e.index)
		}
	}
	return -1
}

// object checks the object at start against c. The object's members are checked by members; const and enum
// (rare on objects) compare the whole object afterwards.
func (st *state) object(c *conj, start int) result {
	if c.obj == nil && len(c.valueSets) == 0 {
		end, ok := skipValue(st.data, start, st.depth)
		st.i = end
		if !ok {
			return rBail
		}
		return rOK
	}
	if st.depth >= maxDepth {
		return rBail
	}
	var r result
	if c.obj == nil {
		end, ok := skipValue(st.data, start, st.depth)
		st.i = end
		if !ok {
			return rBail
		}
	} else {
		st.depth++
		bitsBase, spansBase := len(st.bits), len(st.spans)
		if c.obj.words > 1 {
			for k := 0; k < c.obj.words; k++ {
				st.bits = append(st.bits, 0)
			}
		}
		r = st.members(c.obj, start, bitsBase, spansBase)
		st.bits, st.spans = st.bits[:bitsBase], st.spans[:spansBase]
		st.depth--
		if r != rOK {
			return r
		}
	}
	return st.inValueSets(c, start, st.i)
}

// members scans the members of the object at start and applies o.
//
// Each name is decoded only when it holds escapes or invalid UTF-8, then looked up in the table of names the
// schema mentions. A known name brings, from compile time, the subschema of its value and whether the name
// is allowed at all; an unknown one is checked against propertyNames and matched against the
// patternProperties patterns, whose combination gives its subschema. Names seen are marked in a bitset
// (bitsBase) for required and dependentRequired, and unknown names are kept (spansBase) to find duplicates.
//
// Duplicate names need care: the reference decodes objects into maps, where the last value of a name wins.
// Any duplicate therefore makes the fast pass give up on the object. For the same reason a member that fails
// does not make the object fail at once within a re-scan: a later member of the same name could replace it,
// so the rest of the object is scanned first, for duplicates only. Outside re-scans a failure ends the fast
// pass anyway, and the exact pass follows.
func (st *state) members(o *objConj, start, bitsBase, spansBase int) result {
	data := st.data
	i := skipSpace(data, start+1)
	count := 0
	var seen uint64 // names seen, when there are at most 64
	failed := false // a member failed; the rest is scanned to rule out a later duplicate of its name
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return rBail
			}
			ns := i
			ne, flags, ok := scanString(data, i)
			if !ok {
				return rBail
			}
			i = skipSpace(data, ne)
			if i >= len(data) || data[i] != ':' {
				return rBail
			}
			i = skipSpace(data, i+1)
			// The name as the reference's map holds it.
			raw := data[ns+1 : ne-1]
			name, decoded := raw, false
			if flags&strEscaped != 0 || (flags&strHigh != 0 && !utf8.Valid(raw)) {
				st.scratch = unescape(st.scratch[:0], raw)
				name, decoded = st.scratch, true
			}
			// child is the subschema of the member's value (nil: anything); allowed is whether the name itself
			// may appear.
			var child *conj
			allowed := true
			if k := o.lookup(name); k >= 0 {
				// Up to 64 names, the bitset is a local word; beyond, words on st.bits.
				bit := uint64(1) << (k & 63)
				if o.words == 1 {
					if seen&bit != 0 {
						return rBail // a duplicate name: the last one wins in the reference
					}
					seen |= bit
				} else {
					w := bitsBase + k>>6
					if st.bits[w]&bit != 0 {
						return rBail
					}
					st.bits[w] |= bit
				}
				e := &o.entries[k]
				child, allowed = e.child, e.ok
			} else {
				if decoded {
					return rBail // cannot cheaply rule out a duplicate
				}
				st.spans = append(st.spans, span{start: ns, end: ne, hash: hashBytes(raw)})
				if !failed {
					if o.propNames != nil {
						switch st.subscan(o.propNames, ns) {
						case rBail:
							return rBail
						case rFail:
							allowed = false
						}
					}
					if allowed {
						if len(o.slots) == 0 {
							child, allowed = o.other, o.otherOK
						} else {
							// Which patterns match decides the subschema; the result for each
							// combination is built once and cached.
							var mask uint64
							for j := range o.slots {
								if o.slots[j].m.Match(raw) {
									mask |= 1 << j
								}
							}
							pr := st.b.patResult(o, mask)
							if pr.bail {
								return rBail
							}
							child, allowed = pr.child, pr.ok
						}
					}
				}
			}
			// The member's value: skipped once the object has failed, else checked against child.
			count++
			r := rOK
			if failed || !allowed {
				r = rFail
			} else {
				st.i = i
				r = st.value(child)
			}
			switch r {
			case rOK:
				i = st.i
			case rBail:
				return rBail
			default:
				if st.sub == 0 {
					return rFail
				}
				failed = true
				end, ok := skipValue(data, i, st.depth)
				if !ok {
					return rBail
				}
				i = end
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return rBail
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return rBail
			}
			i = skipSpace(data, i+1)
		}
	}
	st.i = i
	if dupSpans(data, st.spans[spansBase:]) {
		return rBail
	}
	if failed {
		return rFail
	}
	// Without duplicates, count is the number of properties the reference's map holds.
	if count < o.minProps || (o.maxProps >= 0 && count > o.maxProps) {
		return rFail
	}
	// has reports whether the name of index k was seen.
	has := func(k int32) bool {
		if o.words == 1 {
			return seen&(1<<k) != 0
		}
		return st.bits[bitsBase+int(k>>6)]&(1<<(k&63)) != 0
	}
	for _, k := range o.required {
		if !has(k) {
			return rFail
		}
	}
	for _, d := range o.depReq {
		if has(d.trigger) {
			for _, k := range d.need {
				if !has(k) {
					return rFail
				}
			}
		}
	}
	for _, d := range o.depSchemas {
		if has(d.trigger) {
			// The object is re-scanned at its own depth, outside its members.
			st.depth--
			r := st.subscan(d.sub, start)
			st.depth++
			if r != rOK {
				return r
			}
		}
	}
	return rOK
}

// hashBytes is FNV-1a.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// dupSpans reports whether two spans hold the same bytes. It may reorder spans.
func dupSpans(data []byte, spans []span) bool {
	if len(spans) < 2 {
		return false
	}
	if len(spans) <= 16 {
		for a := 1; a < len(spans); a++ {
			for b := 0; b < a; b++ {
				if spans[a].hash == spans[b].hash &&
					bytes.Equal(data[spans[a].start:spans[a].end], data[spans[b].start:spans[b].end]) {
					return true
				}
			}
		}
		return false
	}
	slices.SortFunc(spans, cmpSpanHash)
	for a := 1; a < len(spans); a++ {
		if spans[a].hash != spans[a-1].hash {
			continue
		}
		for b := a - 1; b >= 0 && spans[b].hash == spans[a].hash; b-- {
			if bytes.Equal(data[spans[a].start:spans[a].end], data[spans[b].start:spans[b].end]) {
				return true
			}
		}
	}
	return false
}

// cmpSpanHash orders spans by hash.
func cmpSpanHash(a, b span) int {
	switch {
	case a.hash < b.hash:
		return -1
	case a.hash > b.hash:
		return 1
	}
	return 0
}
