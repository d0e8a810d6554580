package schema

import (
	"math/big"
	"math/bits"
)

// dec is the exact value ±m·10^e of a decimal number whose significant digits
// fit in 19: m has no trailing zeros, and zero (also -0) is m == 0, e == 0,
// neg false. Comparing two decs is exact and needs no math/big.
type dec struct {
	m   uint64
	e   int32
	neg bool
}

// maxDecDigits is the most significant digits a dec holds: 10^19 < 2^64.
const maxDecDigits = 19

// parseDec parses a JSON number literal that passed checkLiteral (so its
// exponent is at most ±1000 apart from leading zeros). ok is false when it
// has more than 19 significant digits; the caller then uses math/big.
func parseDec(lit []byte) (d dec, ok bool) {
	i := 0
	if i < len(lit) && lit[i] == '-' {
		d.neg = true
		i++
	}
	var (
		m      uint64
		nd     int // digits in m
		zeros  int // zeros seen after the last nonzero digit, not yet in m
		frac   int // digits after the decimal point
		inFrac bool
	)
digits:
	for ; i < len(lit); i++ {
		switch c := lit[i]; {
		case c == '.':
			inFrac = true
		case c == 'e' || c == 'E':
			break digits
		default:
			if inFrac {
				frac++
			}
			if c == '0' {
				if nd > 0 {
					zeros++
				}
				continue
			}
			if nd+zeros+1 > maxDecDigits {
				return dec{}, false
			}
			for ; zeros > 0; zeros-- {
				m *= 10
				nd++
			}
			m = m*10 + uint64(c-'0')
			nd++
		}
	}
	exp := 0
	if i < len(lit) { // lit[i] is 'e' or 'E'
		i++
		neg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			neg = lit[i] == '-'
			i++
		}
		for ; i < len(lit); i++ {
			if exp = exp*10 + int(lit[i]-'0'); exp > 1<<20 {
				return dec{}, false // checkLiteral refuses such literals anyway
			}
		}
		if neg {
			exp = -exp
		}
	}
	if m == 0 {
		return dec{}, true
	}
	d.m, d.e = m, int32(zeros-frac+exp)
	return d, true
}

// numDigits returns the number of decimal digits of m > 0.
func numDigits(m uint64) int {
	n := 1
	for m >= 10 {
		m /= 10
		n++
	}
	return n
}

func (d dec) sign() int {
	switch {
	case d.m == 0:
		return 0
	case d.neg:
		return -1
	default:
		return 1
	}
}

// cmpDec compares a and b exactly: -1, 0 or +1.
func cmpDec(a, b dec) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	c := cmpMag(a, b)
	if sa < 0 {
		return -c
	}
	return c
}

// cmpMag compares |a| and |b|, both nonzero.
func cmpMag(a, b dec) int {
	da, db := numDigits(a.m), numDigits(b.m)
	// The leading digit of m·10^e has weight 10^(digits+e-1).
	if la, lb := da+int(a.e), db+int(b.e); la != lb {
		if la < lb {
			return -1
		}
		return 1
	}
	ma, mb := a.m, b.m
	for ; da < db; da++ {
		ma *= 10
	}
	for ; db < da; db++ {
		mb *= 10
	}
	switch {
	case ma < mb:
		return -1
	case ma > mb:
		return 1
	}
	return 0
}

// isInt reports whether d is an integer.
func (d dec) isInt() bool { return d.m == 0 || d.e >= 0 }

// multipleOfDec reports whether a/b is an integer; b is nonzero.
func multipleOfDec(a, b dec) bool {
	if a.m == 0 {
		return true
	}
	k := int(a.e) - int(b.e)
	if k >= 0 {
		// b.m must divide a.m·10^k.
		r := a.m % b.m
		for ; k > 0 && r != 0; k-- {
			hi, lo := bits.Mul64(r, 10) // r < b.m, so hi < b.m
			_, r = bits.Div64(hi, lo, b.m)
		}
		return r == 0
	}
	// b.m·10^-k must divide a.m < 10^19.
	q := b.m
	for ; k < 0; k++ {
		hi, lo := bits.Mul64(q, 10)
		if hi != 0 {
			return false
		}
		q = lo
	}
	return a.m%q == 0
}

// ratDec converts r to a dec when it is a decimal with at most 19
// significant digits.
func ratDec(r *big.Rat) (dec, bool) {
	n, exact := r.FloatPrec()
	if !exact || n > 1100 {
		return dec{}, false
	}
	// r·10^n is an integer.
	num := new(big.Int).Abs(r.Num())
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	num.Mul(num, pow)
	num.Quo(num, r.Denom())
	if num.Sign() == 0 {
		return dec{}, true
	}
	e := -n
	ten := big.NewInt(10)
	var rem big.Int
	for {
		var q big.Int
		q.QuoRem(num, ten, &rem)
		if rem.Sign() != 0 {
			break
		}
		num = &q
		e++
	}
	if !num.IsUint64() || numDigits(num.Uint64()) > maxDecDigits || e < -1<<30 || e > 1<<30 {
		return dec{}, false
	}
	return dec{m: num.Uint64(), e: int32(e), neg: r.Sign() < 0}, true
}

// number is a number literal with its value parsed when it is cheap.
type number struct {
	lit []byte
	d   dec
	ok  bool // d holds the value
	rat *big.Rat
}

func newNumber(lit []byte) number {
	d, ok := parseDec(lit)
	return number{lit: lit, d: d, ok: ok}
}

// bigRat returns the value as a big.Rat, as jsonschema computes it: the
// literal's text through big.Rat.SetString. It is nil if that fails.
func (n *number) bigRat() *big.Rat {
	if n.rat == nil {
		n.rat, _ = new(big.Rat).SetString(string(n.lit))
	}
	return n.rat
}

// isInt reports whether the number is an integer (1.0 and 1e2 are).
func (n *number) isInt() (is, decided bool) {
	if n.ok {
		return n.d.isInt(), true
	}
	r := n.bigRat()
	if r == nil {
		return false, false
	}
	return r.IsInt(), true
}

// bound is a number from the schema: a bound, multipleOf or an enum member.
type bound struct {
	d   dec
	ok  bool // d holds the value
	rat *big.Rat
}

func newBound(r *big.Rat) bound {
	d, ok := ratDec(r)
	return bound{d: d, ok: ok, rat: r}
}

// cmp compares n with b; decided is false when math/big cannot parse n.
func (n *number) cmp(b *bound) (c int, decided bool) {
	if n.ok && b.ok {
		return cmpDec(n.d, b.d), true
	}
	r := n.bigRat()
	if r == nil {
		return 0, false
	}
	return r.Cmp(b.rat), true
}

// multipleOf reports whether n / b is an integer.
func (n *number) multipleOf(b *bound) (is, decided bool) {
	if n.ok && b.ok && b.d.m != 0 {
		return multipleOfDec(n.d, b.d), true
	}
	r := n.bigRat()
	if r == nil || b.rat.Sign() == 0 {
		return false, false
	}
	return new(big.Rat).Quo(r, b.rat).IsInt(), true
}
