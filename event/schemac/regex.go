package schemac

import (
	"math/bits"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// matcher tells whether a string contains a match of a regular expression, as regexp.Regexp.Match does. A
// pattern that is a sequence of character classes, each repeated a bounded or unbounded number of times,
// optionally anchored at either end (such as ^[A-Z]{2}$ or ^[a-z0-9]{1,20}$), is matched on short inputs by
// a set-of-positions simulation with no allocation and no backtracking; anything else goes to the regexp.
type matcher struct {
	re       *regexp.Regexp
	items    []classRep // nil when the pattern is not that simple
	begin    bool       // anchored at the start of the text
	end      bool       // anchored at the end of the text
	maxInput int        // longest input the simulation takes (it tracks positions in a uint64)
}

// classRep is a character class repeated min to max times (max -1 for unbounded).
type classRep struct {
	ascii    [2]uint64 // members below 0x80
	ranges   []rune    // all members, as inclusive pairs
	min, max int
}

// has reports whether r is in the class.
func (c *classRep) has(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r>>6]&(1<<(r&63)) != 0
	}
	for i := 0; i+1 < len(c.ranges); i += 2 {
		if r < c.ranges[i] {
			return false
		}
		if r <= c.ranges[i+1] {
			return true
		}
	}
	return false
}

// newMatcher prepares re, whose source the reference compiled with regexp.Compile.
func newMatcher(re *regexp.Regexp) *matcher {
	m := &matcher{re: re, maxInput: 63}
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return m
	}
	// The pattern must be a concatenation of items, with ^ first and $ last when anchored; each item a
	// single-character expression, optionally repeated.
	subs := []*syntax.Regexp{t}
	if t.Op == syntax.OpConcat {
		subs = t.Sub
	}
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		m.begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		m.end, subs = true, subs[:len(subs)-1]
	}
	var items []classRep
	for _, s := range subs {
		min, max := 1, 1
		switch s.Op {
		case syntax.OpStar:
			min, max, s = 0, -1, s.Sub[0]
		case syntax.OpPlus:
			min, max, s = 1, -1, s.Sub[0]
		case syntax.OpQuest:
			min, max, s = 0, 1, s.Sub[0]
		case syntax.OpRepeat:
			min, max, s = s.Min, s.Max, s.Sub[0]
		}
		if s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0 && len(s.Rune) > 1 && min == 1 && max == 1 {
			for _, r := range s.Rune {
				items = append(items, newClassRep([]rune{r, r}, 1, 1))
			}
			continue
		}
		c, ok := classOf(s)
		if !ok {
			return m
		}
		items = append(items, newClassRep(c, min, max))
	}
	if len(items) == 0 {
		return m
	}
	m.items = items
	return m
}

// classOf returns the ranges of a single-character expression.
func classOf(s *syntax.Regexp) ([]rune, bool) {
	switch {
	case s.Op == syntax.OpCharClass:
		return s.Rune, true
	case s.Op == syntax.OpLiteral && len(s.Rune) == 1 && s.Flags&syntax.FoldCase == 0:
		return []rune{s.Rune[0], s.Rune[0]}, true
	case s.Op == syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}, true
	case s.Op == syntax.OpAnyChar:
		return []rune{0, utf8.MaxRune}, true
	}
	return nil, false
}

// newClassRep builds a classRep from ranges.
func newClassRep(ranges []rune, min, max int) classRep {
	c := classRep{ranges: ranges, min: min, max: max}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1] && r < utf8.RuneSelf; r++ {
			c.ascii[r>>6] |= 1 << (r & 63)
		}
	}
	return c
}

// Match reports whether b contains a match. It follows the items with the set of byte offsets where the items
// so far can end (starting at 0, or anywhere when the pattern is not anchored at the start); each item
// extends every offset by min to max runes of its class. Invalid UTF-8 decodes to U+FFFD one byte at a
// time, as in regexp.
func (m *matcher) Match(b []byte) bool {
	if m.items == nil || len(b) > m.maxInput {
		return m.re.Match(b)
	}
	// Bit p of set marks byte offset p as a position the items so far can end at.
	var boundaries uint64 // rune boundaries
	for p := 0; p < len(b); {
		boundaries |= 1 << p
		if b[p] < utf8.RuneSelf {
			p++
		} else {
			_, n := utf8.DecodeRune(b[p:])
			p += n
		}
	}
	boundaries |= 1 << len(b)
	set := uint64(1)
	if !m.begin {
		set = boundaries
	}
	for k := range m.items {
		it := &m.items[k]
		var next uint64
		for s := set; s != 0; s &= s - 1 {
			p := bits.TrailingZeros64(s)
			for n := 0; ; n++ {
				if n >= it.min {
					next |= 1 << p
				}
				if (it.max >= 0 && n == it.max) || p >= len(b) {
					break
				}
				r, w := rune(b[p]), 1
				if r >= utf8.RuneSelf {
					r, w = utf8.DecodeRune(b[p:])
				}
				if !it.has(r) {
					break
				}
				p += w
			}
		}
		if set = next; set == 0 {
			return false
		}
	}
	if m.end {
		return set&(1<<len(b)) != 0
	}
	return true
}

// MatchString is Match for a string.
func (m *matcher) MatchString(s string) bool {
	if m.items == nil || len(s) > m.maxInput {
		return m.re.MatchString(s)
	}
	return m.Match([]byte(s))
}
