package schema

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/wsroute/wsroute/internal/frame"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// english renders validation messages. A message.Printer is safe for
// concurrent use: each call copies it into a pooled state and only reads the
// catalog under its lock (jsonschema itself shares one the same way).
var english = message.NewPrinter(language.English)

// Detail is one failure.
type Detail struct {
	Pointer string // escaped JSON pointer into the validated value ("" = the value itself)
	Message string // English and stable, e.g. "missing property 'title'" (jsonschema's ErrorKind.LocalizedString; numeric keywords formatted exactly)
}

// Limits on number literals accepted by Decode. jsonschema compares numbers
// as big.Rat, whose cost grows with the decimal exponent (1e999999 takes tens
// of milliseconds per keyword) and which cannot hold exponents beyond ±1e6
// at all, so such literals are refused before they reach a schema.
const (
	maxNumberLen      = 512  // characters in one number literal
	maxNumberExponent = 1000 // magnitude of the exponent after 'e'/'E'
)

// Decode decodes one JSON text into the value Validate wants: encoding/json
// with UseNumber, so numbers keep their precision as json.Number (1e400 and
// 9007199254740993 are kept exactly). data must hold exactly one value;
// anything but white space after it is an error. A number literal longer
// than 512 characters or with an exponent beyond ±1000 is an error too.
func Decode(data []byte) (any, error) {
	if v, err := frame.DecodeAny(data, checkLiteral); err == nil {
		return v, nil
	}
	// Refused input only: encoding/json words the error as it always has.
	return decodeStd(data)
}

// DecodeObject is Decode for a frame that frame.Parse has already accepted:
// it leaves out the top-level object members whose key (unescaped, exact
// match) is one of skip, such as the route key and ref, without decoding
// them. The number limits apply to the rest. Its errors are a refused number
// (the same message as Decode's) or, if data is not valid JSON after all,
// one wrapping frame.ErrInvalid.
func DecodeObject(data []byte, skip ...string) (any, error) {
	return frame.DecodeAny(data, checkLiteral, skip...)
}

// checkLiteral applies the number literal limits to one literal, without
// allocating for literals within them that have no exponent.
func checkLiteral(num []byte) error {
	if len(num) <= maxNumberLen && bytes.IndexByte(num, 'e') < 0 && bytes.IndexByte(num, 'E') < 0 {
		return nil
	}
	return checkNumber(string(num))
}

// decodeStd is Decode with encoding/json.
func decodeStd(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	for _, c := range data[dec.InputOffset():] {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return nil, fmt.Errorf("invalid character %q after top-level value", c)
		}
	}
	if err := checkNumbers(v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkNumbers applies the number literal limits to every json.Number in v.
func checkNumbers(v any) error {
	switch v := v.(type) {
	case json.Number:
		return checkNumber(string(v))
	case map[string]any:
		for _, x := range v {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkNumber(s string) error {
	if len(s) > maxNumberLen {
		return fmt.Errorf("number literal too long: %d characters, at most %d", len(s), maxNumberLen)
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return nil
	}
	exp := strings.TrimLeft(strings.TrimLeft(s[i+1:], "+-"), "0")
	if n, err := strconv.Atoi(exp); len(exp) > 9 || (err == nil && n > maxNumberExponent) {
		return fmt.Errorf("number %s out of range: exponent beyond ±%d", s, maxNumberExponent)
	}
	return nil
}

// Validate validates v (from Decode, or a map[string]any built from it). It
// returns nil if v is valid, otherwise one Detail per leaf failure,
// deduplicated. jsonschema reports sibling properties in map order, which
// varies from run to run, so the details are sorted by pointer (array
// indexes numerically) and then by message, and additionalProperties lists
// the names in sorted order.
func (s *Schema) Validate(v any) (details []Detail) {
	defer func() {
		// jsonschema v6.0.3 dereferences a nil *big.Rat when a number is
		// outside what math/big parses (e.g. 1e1000001, which Decode
		// refuses) and the schema compares it; never let one input take
		// the caller down.
		if r := recover(); r != nil {
			details = []Detail{{Message: fmt.Sprintf("value cannot be validated: %v", r)}}
		}
	}()
	err := s.sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Detail{{Message: err.Error()}}
	}
	details = appendLeaves(details, ve)
	slices.SortFunc(details, compareDetails)
	return slices.Compact(details)
}

// appendLeaves appends a Detail for each error without causes under e,
// depth first: the leaves of jsonschema's basic output.
func appendLeaves(details []Detail, e *jsonschema.ValidationError) []Detail {
	if len(e.Causes) == 0 {
		return append(details, Detail{Pointer: pointer(e.InstanceLocation), Message: describe(e.ErrorKind)})
	}
	for _, c := range e.Causes {
		details = appendLeaves(details, c)
	}
	return details
}

// compareDetails orders by pointer, token by token with all-digit tokens
// compared as numbers, then by message.
func compareDetails(a, b Detail) int {
	pa, pb := a.Pointer, b.Pointer
	for pa != "" && pb != "" {
		var ta, tb string
		ta, pa = nextToken(pa)
		tb, pb = nextToken(pb)
		if c := compareTokens(ta, tb); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(len(pa), len(pb)); c != 0 {
		return c // a prefix sorts first
	}
	return strings.Compare(a.Message, b.Message)
}

// nextToken splits "/tok/rest" into "tok" and "/rest".
func nextToken(p string) (tok, rest string) {
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

func compareTokens(a, b string) int {
	if isDigits(a) && isDigits(b) {
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pointer returns the escaped JSON pointer (RFC 6901) for tokens.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, tok := range tokens {
		sb.WriteByte('/')
		if strings.ContainsAny(tok, "~/") {
			tok = strings.ReplaceAll(tok, "~", "~0")
			tok = strings.ReplaceAll(tok, "/", "~1")
		}
		sb.WriteString(tok)
	}
	return sb.String()
}

// describe returns the English message for k. The numeric kinds are
// formatted here because jsonschema renders them through float64 and the
// printer's locale-specific notation ("1.234567 × 10⁰⁶"), which loses the
// precision the comparison was made with.
func describe(k jsonschema.ErrorKind) string {
	var name string
	var got, want *big.Rat
	switch k := k.(type) {
	case *kind.Minimum:
		name, got, want = "minimum", k.Got, k.Want
	case *kind.Maximum:
		name, got, want = "maximum", k.Got, k.Want
	case *kind.ExclusiveMinimum:
		name, got, want = "exclusiveMinimum", k.Got, k.Want
	case *kind.ExclusiveMaximum:
		name, got, want = "exclusiveMaximum", k.Got, k.Want
	case *kind.MultipleOf:
		name, got, want = "multipleOf", k.Got, k.Want
	case *kind.AdditionalProperties:
		// The error is built per Validate call; sorting it in place is safe.
		slices.Sort(k.Properties)
		return k.LocalizedString(english)
	default:
		return k.LocalizedString(english)
	}
	return name + ": got " + formatRat(got) + ", want " + formatRat(want)
}

// formatRat formats r exactly when that is short (integers up to ~60 digits,
// decimals up to 20 fraction digits), else as the shortest %g form of its
// float64-precision value, e.g. "1e+400".
func formatRat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		if r.Num().BitLen() <= 200 {
			return r.Num().String()
		}
	} else if r.Num().BitLen() <= 200 && r.Denom().BitLen() <= 200 {
		if n, exact := r.FloatPrec(); exact && n <= 20 {
			return r.FloatString(n)
		}
	}
	return new(big.Float).SetPrec(53).SetRat(r).Text('g', -1)
}
