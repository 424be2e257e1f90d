package schemac

import (
	"math/big"
	"math/bits"
)

// decimal is an exact decimal number: value = ±0.d1d2…dn × 10^exp, with d1 ≠ 0 and dn ≠ 0. Zero has no digits.
// JSON number literals and the bounds of a schema (which the reference reads from such literals) are all
// decimals, so comparing them needs neither floats nor big.Rat.
type decimal struct {
	neg    bool
	digits []byte // ASCII digits
	exp    int
}

// Limits within which the fast pass reads a number literal; beyond them it defers to the exact pass, which
// parses with big.Rat as the reference does (and fails where big.Rat fails).
const (
	maxSigDigits = 64      // significant digits
	maxExpDigits = 9       // digits of the exponent
	maxExpMag    = 100_000 // magnitude of the exponent and of the count of fraction digits
)

// ratDecimal returns r as a decimal when its denominator has no prime factors but 2 and 5.
func ratDecimal(r *big.Rat) (decimal, bool) {
	if r.Sign() == 0 {
		return decimal{}, true
	}
	den := new(big.Int).Set(r.Denom())
	two, five := big.NewInt(2), big.NewInt(5)
	var a, b int
	var m big.Int
	for {
		q, rem := new(big.Int).QuoRem(den, two, &m)
		if rem.Sign() != 0 {
			break
		}
		den, a = q, a+1
	}
	for {
		q, rem := new(big.Int).QuoRem(den, five, &m)
		if rem.Sign() != 0 {
			break
		}
		den, b = q, b+1
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return decimal{}, false
	}
	// r × 10^k is an integer whose digits are r's.
	k := max(a, b)
	n := new(big.Int).Abs(r.Num())
	n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil))
	n.Quo(n, r.Denom())
	s := []byte(n.String())
	e := len(s) - k
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return decimal{neg: r.Sign() < 0, digits: s, exp: e}, true
}

// parseDecimal reads a JSON number token (already checked against the grammar) into d, whose digits are
// the token's own or written to buf. It reports false for literals outside the limits above. The value is intp.frac × 10^exp;
// its significant digits are those of intp followed by frac, without the zeros that lead or trail.
func parseDecimal(tok []byte, buf []byte) (decimal, bool) {
	var d decimal
	i := 0
	// The grammar is -?int(.frac)?([eE][+-]?exp)?, already checked.
	if tok[0] == '-' {
		d.neg = true
		i++
	}
	intStart := i
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	intp := tok[intStart:i]
	var frac []byte
	if i < len(tok) && tok[i] == '.' {
		i++
		fs := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		frac = tok[fs:i]
	}
	exp := 0
	if i < len(tok) {
		// 'e' or 'E', an optional sign, digits.
		i++
		eneg := false
		if tok[i] == '+' || tok[i] == '-' {
			eneg = tok[i] == '-'
			i++
		}
		for i < len(tok) && tok[i] == '0' {
			i++
		}
		if len(tok)-i > maxExpDigits {
			return d, false
		}
		for ; i < len(tok); i++ {
			exp = exp*10 + int(tok[i]-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	if len(frac) > maxExpMag || len(intp) > maxExpMag || exp > maxExpMag || exp < -maxExpMag {
		return d, false
	}
	// The significant digits run from the first non-zero digit to the last one of intp followed by frac. They
	// are used where they lie when they do not straddle the decimal point, else copied into buf.
	frac = trimZeros(frac)
	p := 0
	for p < len(intp) && intp[p] == '0' {
		p++
	}
	if p == len(intp) {
		// No integer part: 0.000ddd.
		q := 0
		for q < len(frac) && frac[q] == '0' {
			q++
		}
		if q == len(frac) {
			return decimal{}, true // zero, whatever its sign
		}
		d.digits, d.exp = frac[q:], exp-q
	} else {
		d.exp = len(intp) - p + exp
		if len(frac) == 0 {
			d.digits = trimZeros(intp[p:])
		} else {
			if len(intp)-p+len(frac) > len(buf) {
				return d, false
			}
			d.digits = append(append(buf[:0], intp[p:]...), frac...)
		}
	}
	if len(d.digits) > maxSigDigits {
		return d, false
	}
	return d, true
}

// trimZeros drops trailing zeros.
func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

// isInt reports whether d is an integer.
func (d *decimal) isInt() bool {
	return len(d.digits) <= d.exp || len(d.digits) == 0
}

// cmpMag compares |a| and |b|.
func cmpMag(a, b *decimal) int {
	switch {
	case len(a.digits) == 0 && len(b.digits) == 0:
		return 0
	case len(a.digits) == 0:
		return -1
	case len(b.digits) == 0:
		return 1
	case a.exp != b.exp:
		if a.exp < b.exp {
			return -1
		}
		return 1
	}
	n := min(len(a.digits), len(b.digits))
	for i := 0; i < n; i++ {
		if a.digits[i] != b.digits[i] {
			if a.digits[i] < b.digits[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.digits) < len(b.digits):
		return -1
	case len(a.digits) > len(b.digits):
		return 1
	}
	return 0
}

// cmpDec compares a and b.
func cmpDec(a, b *decimal) int {
	an := a.neg && len(a.digits) > 0
	bn := b.neg && len(b.digits) > 0
	switch {
	case an && !bn:
		return -1
	case !an && bn:
		return 1
	case an:
		return -cmpMag(a, b)
	}
	return cmpMag(a, b)
}

// passes reports whether x satisfies the bound c (not multipleOf).
func (c *numCheck) passes(x *decimal) bool {
	r := cmpDec(x, &c.dec)
	switch c.op {
	case opMin:
		return r >= 0
	case opMax:
		return r <= 0
	case opExMin:
		return r > 0
	}
	return r < 0
}

// decMultiple reports whether x/m is an integer, as big.Rat's Quo(x, m).IsInt() would; sure is false when it
// could not tell within uint64 arithmetic. With x = dx × 10^sx and m = dm × 10^sm, x/m = dx/dm × 10^(sx-sm):
// an integer when dm divides dx × 10^(sx-sm), or when dm × 10^(sm-sx) divides dx.
func decMultiple(x, m *decimal) (multiple, sure bool) {
	if len(x.digits) == 0 {
		return true, true
	}
	if len(m.digits) == 0 || len(x.digits) > 19 || len(m.digits) > 19 {
		return false, false
	}
	dx, dm := digitsUint(x.digits), digitsUint(m.digits)
	// x = dx × 10^sx, m = dm × 10^sm.
	sx, sm := x.exp-len(x.digits), m.exp-len(m.digits)
	d := sx - sm
	if d >= 0 {
		// dx × 10^d mod dm, one factor of ten at a time, with 128-bit products.
		if d > 4096 {
			return false, false
		}
		r := dx % dm
		for ; d > 0 && r != 0; d-- {
			hi, lo := bits.Mul64(r, 10)
			r = bits.Rem64(hi, lo, dm)
		}
		return r == 0, true
	}
	// dx must be a multiple of dm × 10^-d, which exceeds dx (below 10^19) once it overflows.
	div := dm
	for ; d < 0; d++ {
		hi, lo := bits.Mul64(div, 10)
		if hi != 0 {
			return false, true
		}
		div = lo
	}
	return dx%div == 0, true
}

// digitsUint reads at most 19 ASCII digits.
func digitsUint(ds []byte) uint64 {
	var v uint64
	for _, c := range ds {
		v = v*10 + uint64(c-'0')
	}
	return v
}

// number checks a number against the numeric keywords, "integer", const and enum, exactly: the literal is read
// as a decimal and compared with the bounds' decimals digit by digit, as big.Rat would compare them.
func (st *state) number(c *conj) result {
	start := st.i
	end, ok := scanNumber(st.data, start)
	if !ok {
		return rBail
	}
	st.i = end
	if !c.numChecks {
		return rOK
	}
	d, ok := parseDecimal(st.data[start:end], st.nbuf[:])
	if !ok {
		return rBail
	}
	if c.intOnly && !d.isInt() {
		return rFail
	}
	for k := range c.nums {
		nc := &c.nums[k]
		if !nc.ok {
			return rBail
		}
		if !nc.passes(&d) {
			return rFail
		}
	}
	for k := range c.multiples {
		nc := &c.multiples[k]
		if !nc.ok {
			return rBail
		}
		m, sure := decMultiple(&d, &nc.dec)
		if !sure {
			return rBail
		}
		if !m {
			return rFail
		}
	}
	for _, set := range c.valueSets {
		found := false
		for k := range set {
			cv := &set[k]
			if cv.kind != kNumber {
				continue
			}
			if !cv.decOK {
				return rBail
			}
			if cmpDec(&d, &cv.dec) == 0 {
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
