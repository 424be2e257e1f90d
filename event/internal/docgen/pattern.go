package docgen

import (
	"fmt"
	"math/rand/v2"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRepeat bounds the repetitions generated for an unbounded quantifier (*, +, {n,}).
const maxRepeat = 4

// checkSyntax rejects the regular expression constructs the string generator cannot honour: word boundaries
// and multi-line anchors, whose satisfaction depends on the neighbouring characters.
func checkSyntax(re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpBeginLine, syntax.OpEndLine:
		return fmt.Errorf("%s is not supported by the generator", re)
	case syntax.OpNoMatch:
		return fmt.Errorf("the pattern matches nothing")
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return fmt.Errorf("the class %s matches nothing", re)
		}
	}
	for _, sub := range re.Sub {
		if err := checkSyntax(sub); err != nil {
			return err
		}
	}
	return nil
}

// matching appends to sb a string that the (unanchored) pattern re matches: a string matched by re as a
// whole is matched by the unanchored pattern too.
func matching(r *rand.Rand, sb *strings.Builder, re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r.IntN(2) == 0 {
				c = unicode.SimpleFold(c)
			}
			sb.WriteRune(c)
		}
	case syntax.OpCharClass:
		sb.WriteRune(classRune(r, re.Rune))
	case syntax.OpAnyCharNotNL:
		sb.WriteRune(anyRune(r, false))
	case syntax.OpAnyChar:
		sb.WriteRune(anyRune(r, true))
	case syntax.OpCapture:
		matching(r, sb, re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			matching(r, sb, sub)
		}
	case syntax.OpAlternate:
		matching(r, sb, re.Sub[r.IntN(len(re.Sub))])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := repeatBounds(re)
		for range lo + r.IntN(hi-lo+1) {
			matching(r, sb, re.Sub[0])
		}
	default:
		// OpEmptyMatch, OpBeginText and OpEndText add no characters.
	}
}

// repeatBounds returns how many times a quantified expression may be repeated, capped at maxRepeat above
// the minimum when unbounded.
func repeatBounds(re *syntax.Regexp) (lo, hi int) {
	switch re.Op {
	case syntax.OpStar:
		return 0, maxRepeat
	case syntax.OpPlus:
		return 1, 1 + maxRepeat
	case syntax.OpQuest:
		return 0, 1
	}
	if re.Max < 0 {
		return re.Min, re.Min + maxRepeat
	}
	return re.Min, re.Max
}

// classRune picks a rune from a character class (pairs of inclusive ranges), favouring printable ASCII
// when the class has some, and never a surrogate.
func classRune(r *rand.Rand, ranges []rune) rune {
	if r.IntN(4) != 0 {
		var ascii []rune
		for i := 0; i < len(ranges); i += 2 {
			for c := max(ranges[i], 0x20); c <= min(ranges[i+1], 0x7e); c++ {
				ascii = append(ascii, c)
			}
		}
		if len(ascii) > 0 {
			return ascii[r.IntN(len(ascii))]
		}
	}
	// A range at random, then a rune in it; surrogates (in classes like [^a]) are not runes of a string.
	for {
		i := 2 * r.IntN(len(ranges)/2)
		lo, hi := ranges[i], ranges[i+1]
		c := lo + r.Int32N(hi-lo+1)
		if utf8.ValidRune(c) {
			return c
		}
	}
}

// anyRune picks a rune for '.', from a small palette of one- to four-byte characters.
func anyRune(r *rand.Rand, newline bool) rune {
	palette := []rune{'a', 'Z', '0', ' ', '-', 'é', '日', '😀'}
	if newline {
		palette = append(palette, '\n')
	}
	return palette[r.IntN(len(palette))]
}

// nearMiss returns a string close to v (which matches p) that p does not match, or "", false when a few
// edits found none: a character swapped for one outside its class, one added or removed, a case change, a
// newline before the end (which $ does not accept), a leading space, a full-width letter.
func nearMiss(r *rand.Rand, p *pattern, v string) (string, bool) {
	rs := []rune(v)
	outsiders := []rune{'a', 'A', '0', '_', '-', ' ', 'é', 'Ａ', 'ａ', '\n', '😀'}
	for range 16 {
		var w []rune
		i := 0
		if len(rs) > 0 {
			i = r.IntN(len(rs))
		}
		switch r.IntN(7) {
		case 0: // change one character
			if len(rs) == 0 {
				continue
			}
			w = append(append(append(w, rs[:i]...), outsiders[r.IntN(len(outsiders))]), rs[i+1:]...)
		case 1: // add one character
			c := outsiders[r.IntN(len(outsiders))]
			if len(rs) > 0 && r.IntN(2) == 0 {
				c = rs[i] // a repeated character, one more than a quantifier allows
			}
			w = append(append(append(w, rs[:i]...), c), rs[i:]...)
		case 2: // remove one character
			if len(rs) == 0 {
				continue
			}
			w = append(append(w, rs[:i]...), rs[i+1:]...)
		case 3: // switch the case of one letter
			if len(rs) == 0 {
				continue
			}
			w = slices.Clone(rs)
			if unicode.IsUpper(w[i]) {
				w[i] = unicode.ToLower(w[i])
			} else {
				w[i] = unicode.ToUpper(w[i])
			}
		case 4:
			w = append(slices.Clone(rs), '\n')
		case 5:
			w = append([]rune{' '}, rs...)
		case 6: // full-width form of an ASCII letter or digit
			if len(rs) == 0 || rs[i] < '0' || rs[i] > 'z' {
				continue
			}
			w = slices.Clone(rs)
			w[i] += 0xFEE0
		}
		if s := string(w); !p.re.MatchString(s) {
			return s, true
		}
	}
	return "", false
}
