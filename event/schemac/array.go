package schemac

// maxUniqueItems bounds the items the fast pass compares pairwise for uniqueItems.
const maxUniqueItems = 512

// array checks the array at st.i against c: its items as they are scanned, then the keywords about the array
// as a whole.
func (st *state) array(c *conj) result {
	start := st.i
	a := c.arr
	if a == nil {
		end, ok := skipValue(st.data, start, st.depth)
		st.i = end
		if !ok {
			return rBail
		}
		return st.inValueSets(c, start, end)
	}
	if st.depth >= maxDepth {
		return rBail
	}
	st.depth++
	spansBase := len(st.spans)
	r := st.items(a, start, spansBase)
	st.spans = st.spans[:spansBase]
	st.depth--
	if r != rOK {
		return r
	}
	return st.inValueSets(c, start, st.i)
}

// items scans the items of the array at start and applies a. Item n is checked against the merged prefixItems
// subschema for n, or the merged items subschema after them. A failing item fails the array for sure: unlike
// an object's member, nothing later can replace it. uniqueItems and contains need the items again, so their
// spans are kept (spansBase) and compared or re-scanned at the end.
func (st *state) items(a *arrConj, start, spansBase int) result {
	data := st.data
	i := skipSpace(data, start+1)
	n := 0
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for {
			// The subschema of item n.
			child := a.rest
			if n < len(a.prefix) {
				child = a.prefix[n]
			}
			st.i = i
			if r := st.value(child); r != rOK {
				return r
			}
			if a.spans {
				st.spans = append(st.spans, span{start: i, end: st.i})
			}
			n++
			i = skipSpace(data, st.i)
			if i >= len(data) {
				return rBail
			}
			if data[i] == ']' {
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
	if n < a.minItems || (a.maxItems >= 0 && n > a.maxItems) {
		return rFail
	}
	// Pairwise, as the reference does for short arrays; very long arrays are left to the exact pass.
	if a.unique && n > 1 {
		if n > maxUniqueItems {
			return rBail
		}
		items := st.spans[spansBase:]
		for x := 1; x < len(items); x++ {
			for y := 0; y < x; y++ {
				eq, sure := st.equal(data, items[x].start, data, items[y].start)
				if !sure {
					return rBail
				}
				if eq {
					return rFail
				}
			}
		}
	}
	// Each contains (one per merged node) counts its own matches against its own bounds.
	for _, cc := range a.contains {
		matched := 0
		for k := spansBase; k < spansBase+n; k++ {
			sp := st.spans[k]
			switch st.subscan(cc.sub, sp.start) {
			case rOK:
				matched++
			case rBail:
				return rBail
			}
		}
		if matched < cc.min || (cc.max >= 0 && matched > cc.max) {
			return rFail
		}
	}
	st.i = i
	return rOK
}

// inValueSets checks an array or object [start, end) against const and enum: the value must equal one member
// of every set. A comparison the fast pass cannot decide (duplicate names in an object) leaves the answer
// undecided only when no other member matched.
func (st *state) inValueSets(c *conj, start, end int) result {
	k := kArray
	if st.data[start] == '{' {
		k = kObject
	}
	for _, set := range c.valueSets {
		found, unsure := false, false
		for j := range set {
			cv := &set[j]
			if cv.kind != k {
				continue
			}
			eq, sure := st.equal(st.data, start, cv.raw, 0)
			if !sure {
				unsure = true
				continue
			}
			if eq {
				found = true
				break
			}
		}
		if !found {
			if unsure {
				return rBail
			}
			return rFail
		}
	}
	st.i = end
	return rOK
}
