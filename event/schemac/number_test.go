package schemac

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// randomLiteral returns a JSON number literal in any of its forms.
func randomLiteral(r *rand.Rand) string {
	var sb strings.Builder
	if r.IntN(3) == 0 {
		sb.WriteByte('-')
	}
	switch r.IntN(4) {
	case 0:
		sb.WriteByte('0')
	default:
		sb.WriteByte(byte('1' + r.IntN(9)))
		for k := r.IntN(25); k > 0; k-- {
			sb.WriteByte([]byte("0000123456789")[r.IntN(13)])
		}
	}
	if r.IntN(2) == 0 {
		sb.WriteByte('.')
		for k := r.IntN(22) + 1; k > 0; k-- {
			sb.WriteByte([]byte("0000123456789")[r.IntN(13)])
		}
	}
	if r.IntN(3) == 0 {
		sb.WriteByte("eE"[r.IntN(2)])
		if r.IntN(2) == 0 {
			sb.WriteByte("+-"[r.IntN(2)])
		}
		sb.WriteString(strconv.Itoa(r.IntN(40)))
	}
	return sb.String()
}

// TestDecimal compares the decimal arithmetic with big.Rat, which the reference uses.
func TestDecimal(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	var buf1, buf2 [maxSigDigits]byte
	fixed := []string{"0", "-0", "0.0e5", "1", "1.0", "10e-1", "100e-2", "1e2", "0.1", "1e-1", "12.50", "-1e400", "3",
		"0.3", "0.03", "4.5", "1.5", "0.0001", "86400000", "8.64e7"}
	lits := append([]string{}, fixed...)
	for i := 0; i < 20000; i++ {
		lits = append(lits, randomLiteral(r))
	}
	for i, a := range lits {
		b := lits[(i*7919+13)%len(lits)]
		if i < len(fixed) {
			b = fixed[(i+1)%len(fixed)]
		}
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		da, ok1 := parseDecimal([]byte(a), buf1[:])
		db, ok2 := parseDecimal([]byte(b), buf2[:])
		if !ok1 || !ok2 {
			continue // beyond the fast pass's limits
		}
		if da.isInt() != ra.IsInt() {
			t.Fatalf("%s: isInt %v, big.Rat %v", a, da.isInt(), ra.IsInt())
		}
		if got, want := cmpDec(&da, &db), ra.Cmp(rb); got != want {
			t.Fatalf("cmp(%s, %s) = %d, big.Rat %d", a, b, got, want)
		}
		if rb.Sign() != 0 {
			m, sure := decMultiple(&da, &db)
			if want := new(big.Rat).Quo(ra, rb).IsInt(); sure && m != want {
				t.Fatalf("%s multiple of %s: %v, big.Rat %v", a, b, m, want)
			}
		}
		dr, ok := ratDecimal(ra)
		if !ok || cmpDec(&dr, &da) != 0 {
			t.Fatalf("ratDecimal(%s) = %+v, want %+v", a, dr, da)
		}
	}
}

// TestMultipleOfSure checks that the usual cases are decided without big.Rat.
func TestMultipleOfSure(t *testing.T) {
	t.Parallel()
	var buf1, buf2 [maxSigDigits]byte
	for _, tc := range []struct {
		name, x, m string
		want       bool
	}{
		{"integers", "12", "3", true},
		{"integers, not a multiple", "13", "3", false},
		{"cents", "19.99", "0.01", true},
		{"sub-cent", "19.995", "0.01", false},
		{"exponent", "1e3", "25", true},
		{"zero", "0", "7", true},
		{"large quotient", "1e300", "3", false},
		{"tiny divisor", "0.0075", "0.0001", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, _ := parseDecimal([]byte(tc.x), buf1[:])
			m, _ := parseDecimal([]byte(tc.m), buf2[:])
			got, sure := decMultiple(&x, &m)
			if !sure || got != tc.want {
				t.Errorf("got %v (sure %v), want %v", got, sure, tc.want)
			}
		})
	}
}
