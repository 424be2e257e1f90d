package dataflow

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/serverless-data-platform/sdp/event"
)

// Limits of the intrinsic functions, from the Step Functions documentation.
const (
	maxRangeItems   = 1000
	maxEncodedChars = 10000
	maxHashChars    = 10000
	minMathAddArg   = math.MinInt32
	maxMathAddArg   = math.MaxInt32
)

// paramType is the JSON type a parameter takes.
type paramType uint8

const (
	tAny paramType = iota
	tString
	tNumber
	tArray
	tObject
	tBool
)

func (t paramType) String() string {
	return [...]string{"any value", "a string", "a number", "an array", "an object", "a boolean"}[t]
}

// accepts reports whether v is of type t.
func (t paramType) accepts(v any) bool {
	switch t {
	case tString:
		_, ok := v.(string)
		return ok
	case tNumber:
		_, ok := v.(float64)
		return ok
	case tArray:
		if r, ok := v.(*Raw); ok {
			return r.kindByte() == '['
		}
		_, ok := v.([]any)
		return ok
	case tObject:
		if r, ok := v.(*Raw); ok {
			return r.kindByte() == '{'
		}
		_, ok := v.(map[string]any)
		return ok
	case tBool:
		_, ok := v.(bool)
		return ok
	}
	return true
}

// function is an intrinsic function.
type function struct {
	name string
	// params are the types of the parameters; the last optional ones may be left out, and variadic functions
	// take any number of further arguments of any type.
	params   []paramType
	optional int
	variadic bool
	// checkLiterals rejects literal arguments the function can never accept (nil: no further checks).
	checkLiterals func(c *Call) error
	// apply computes the result from arguments that already have the parameter types.
	apply func(c *Call, args []any, s Scope) (any, error)
}

// lookupFunction returns the intrinsic function called name, or nil.
func lookupFunction(name string) *function {
	f := &function{name: name}
	switch name {
	case "States.Format":
		f.params, f.variadic, f.checkLiterals, f.apply = []paramType{tString}, true, checkFormat, applyFormat
	case "States.StringToJson":
		f.params, f.apply = []paramType{tString}, applyStringToJSON
	case "States.JsonToString":
		f.params, f.checkLiterals, f.apply = []paramType{tAny}, checkJSONToString, applyJSONToString
	case "States.Array":
		f.variadic, f.apply = true, applyArray
	case "States.ArrayPartition":
		f.params, f.checkLiterals, f.apply = []paramType{tArray, tNumber}, checkArrayPartition, applyArrayPartition
	case "States.ArrayContains":
		f.params, f.apply = []paramType{tArray, tAny}, applyArrayContains
	case "States.ArrayRange":
		f.params, f.checkLiterals, f.apply = []paramType{tNumber, tNumber, tNumber}, checkArrayRange, applyArrayRange
	case "States.ArrayGetItem":
		f.params, f.checkLiterals, f.apply = []paramType{tArray, tNumber}, checkArrayGetItem, applyArrayGetItem
	case "States.ArrayLength":
		f.params, f.apply = []paramType{tArray}, applyArrayLength
	case "States.ArrayUnique":
		f.params, f.apply = []paramType{tArray}, applyArrayUnique
	case "States.Base64Encode":
		f.params, f.checkLiterals, f.apply = []paramType{tString}, checkBase64, applyBase64Encode
	case "States.Base64Decode":
		f.params, f.checkLiterals, f.apply = []paramType{tString}, checkBase64, applyBase64Decode
	case "States.Hash":
		f.params, f.checkLiterals, f.apply = []paramType{tString, tString}, checkHash, applyHash
	case "States.JsonMerge":
		f.params, f.checkLiterals, f.apply = []paramType{tObject, tObject, tBool}, checkJSONMerge, applyJSONMerge
	case "States.MathRandom":
		f.params, f.optional, f.apply = []paramType{tNumber, tNumber, tNumber}, 1, applyMathRandom
	case "States.MathAdd":
		f.params, f.checkLiterals, f.apply = []paramType{tNumber, tNumber}, checkMathAdd, applyMathAdd
	case "States.StringSplit":
		f.params, f.apply = []paramType{tString, tString}, applyStringSplit
	case "States.UUID":
		f.apply = applyUUID
	default:
		return nil
	}
	return f
}

// check validates the arguments of c that are known when it is compiled.
func (f *function) check(c *Call) error {
	n, most, least := len(c.args), len(f.params), len(f.params)-f.optional
	switch {
	case f.variadic && n < least:
		return fmt.Errorf("takes at least %d arguments, got %d", least, n)
	case !f.variadic && (n < least || n > most) && least == most:
		return fmt.Errorf("takes %d arguments, got %d", most, n)
	case !f.variadic && (n < least || n > most):
		return fmt.Errorf("takes %d to %d arguments, got %d", least, most, n)
	}
	for i, a := range c.args {
		if i < len(f.params) && a.kind == argLiteral && !f.params[i].accepts(a.lit) {
			return fmt.Errorf("argument %d (%s) must be %s", i+1, a.src, f.params[i])
		}
	}
	if f.checkLiterals != nil {
		return f.checkLiterals(c)
	}
	return nil
}

// eval checks the types of the evaluated arguments and applies f.
func (f *function) eval(c *Call, args []any, s Scope) (any, error) {
	for i, t := range f.params {
		if i < len(args) && !t.accepts(args[i]) {
			return nil, c.failf("The value of argument %d must be %s, but was %s", i+1, t, typeName(args[i]))
		}
	}
	return f.apply(c, args, s)
}

// literal returns the value of argument i of c when it is a literal.
func (c *Call) literal(i int) (any, bool) {
	if i >= len(c.args) || c.args[i].kind != argLiteral {
		return nil, false
	}
	return c.args[i].lit, true
}

// toInt rounds f to the nearest integer (halves up, as Java's Math.round), as Step Functions rounds non-integer
// arguments; ok is false when f is not finite or does not fit in an int64.
func toInt(f float64) (int64, bool) {
	r := math.Floor(f + 0.5)
	if math.IsNaN(r) || r < math.MinInt64 || r >= math.MaxInt64 {
		return 0, false
	}
	return int64(r), true
}

// States.Format

// checkFormat requires a literal template to have one {} per value that follows it.
func checkFormat(c *Call) error {
	if c.args[0].kind != argLiteral {
		return nil
	}
	if want := len(c.args[0].parts) - 1; want != len(c.args)-1 {
		return fmt.Errorf("the format string has %d placeholders but %d values follow it", want, len(c.args)-1)
	}
	return nil
}

// applyFormat is States.Format(template, values...): template with each {} replaced by the text of the
// positionally corresponding value. A literal template was split at compile time (its \{ and \} escapes are
// not placeholders); a template from a path is split at every {} when it is evaluated.
func applyFormat(c *Call, args []any, _ Scope) (any, error) {
	parts := c.args[0].parts
	if c.args[0].kind != argLiteral {
		parts = strings.Split(args[0].(string), "{}")
	}
	if len(parts)-1 != len(args)-1 {
		return nil, c.failf("The format string has %d placeholders but %d values were given", len(parts)-1, len(args)-1)
	}
	var b strings.Builder
	for i, part := range parts {
		b.WriteString(part)
		if i+1 < len(parts) {
			formatValue(&b, args[i+1])
		}
	}
	return b.String(), nil
}

// States.StringToJson and States.JsonToString

// applyStringToJSON is States.StringToJson(string): the JSON value the string holds.
func applyStringToJSON(c *Call, args []any, _ Scope) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(args[0].(string)), &v); err != nil {
		return nil, c.failf("The string is not valid JSON: %s", err.Error())
	}
	return v, nil
}

// checkJSONToString requires the argument to be a path (or a call), as the specification does.
func checkJSONToString(c *Call) error {
	if c.args[0].kind == argLiteral {
		return errors.New("the argument must be a path")
	}
	return nil
}

// applyJSONToString is States.JsonToString(value): the compact JSON text of value.
func applyJSONToString(c *Call, args []any, _ Scope) (any, error) {
	s, err := jsonText(args[0])
	if err != nil {
		return nil, c.failf("The value cannot be encoded as JSON: %s", err.Error())
	}
	return s, nil
}

// Arrays

// applyArray is States.Array(values...): the values as an array, in order.
func applyArray(_ *Call, args []any, _ Scope) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

// checkArrayPartition rejects a literal chunk size that does not round to a positive integer.
func checkArrayPartition(c *Call) error {
	if v, ok := c.literal(1); ok {
		if n, ok := toInt(v.(float64)); !ok || n < 1 {
			return errors.New("the chunk size must be a positive integer")
		}
	}
	return nil
}

// applyArrayPartition is States.ArrayPartition(array, size): array cut into chunks of size items, the last
// chunk holding what remains.
func applyArrayPartition(c *Call, args []any, _ Scope) (any, error) {
	arr := Resolve(args[0]).([]any)
	size, ok := toInt(args[1].(float64))
	if !ok || size < 1 {
		return nil, c.failf("The chunk size must be a positive integer, but was %s", formatNumber(args[1].(float64)))
	}
	if len(arr) == 0 {
		return []any{}, nil
	}
	chunk := int(min(size, int64(len(arr))))
	chunks := make([]any, 0, (len(arr)+chunk-1)/chunk)
	for i := 0; i < len(arr); i += chunk {
		end := min(i+chunk, len(arr))
		chunks = append(chunks, arr[i:end:end]) // capped: appending to a chunk cannot reach the input
	}
	return chunks, nil
}

// applyArrayContains is States.ArrayContains(array, value): whether an element of array equals value.
func applyArrayContains(_ *Call, args []any, _ Scope) (any, error) {
	for _, v := range Resolve(args[0]).([]any) {
		if equalJSON(v, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

// rangeLen is the number of items of States.ArrayRange(start, end, step), both ends included.
func rangeLen(start, end, step int64) int64 {
	if (step > 0 && start > end) || (step < 0 && start < end) {
		return 0
	}
	return (end-start)/step + 1
}

// checkArrayRange rejects literal arguments that are not integers, a zero step, and literal bounds that make
// more than 1000 items.
func checkArrayRange(c *Call) error {
	var vals [3]int64
	for i := range vals {
		v, ok := c.literal(i)
		if !ok {
			if i == 2 {
				return nil
			}
			continue
		}
		if vals[i], ok = toInt(v.(float64)); !ok {
			return fmt.Errorf("argument %d must be an integer", i+1)
		}
	}
	if vals[2] == 0 {
		return errors.New("the step must not be zero")
	}
	_, startLit := c.literal(0)
	_, endLit := c.literal(1)
	if startLit && endLit && rangeLen(vals[0], vals[1], vals[2]) > maxRangeItems {
		return fmt.Errorf("the range has more than %d items", maxRangeItems)
	}
	return nil
}

// applyArrayRange is States.ArrayRange(first, last, step): first, first+step, ... up to and including last
// (down to it for a negative step), at most 1000 items.
func applyArrayRange(c *Call, args []any, _ Scope) (any, error) {
	var vals [3]int64
	for i := range vals {
		var ok bool
		if vals[i], ok = toInt(args[i].(float64)); !ok || vals[i] < -(1<<52) || vals[i] > 1<<52 {
			return nil, c.failf("The value of argument %d must be an integer, but was %s", i+1, formatNumber(args[i].(float64)))
		}
	}
	start, end, step := vals[0], vals[1], vals[2]
	if step == 0 {
		return nil, c.failf("The step must not be zero")
	}
	n := rangeLen(start, end, step)
	if n > maxRangeItems {
		return nil, c.failf("The array cannot contain more than %d items, but would contain %d", maxRangeItems, n)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = float64(start + int64(i)*step)
	}
	return out, nil
}

// checkArrayGetItem rejects a literal index below zero.
func checkArrayGetItem(c *Call) error {
	if v, ok := c.literal(1); ok {
		if n, ok := toInt(v.(float64)); !ok || n < 0 {
			return errors.New("the index must be a non-negative integer")
		}
	}
	return nil
}

// applyArrayGetItem is States.ArrayGetItem(array, index): the element at index, counted from zero.
func applyArrayGetItem(c *Call, args []any, _ Scope) (any, error) {
	arr := Resolve(args[0]).([]any)
	i, ok := toInt(args[1].(float64))
	if !ok || i < 0 || i >= int64(len(arr)) {
		return nil, c.failf("The index %s is out of bounds for an array of %d items", formatNumber(args[1].(float64)), len(arr))
	}
	return arr[i], nil
}

// applyArrayLength is States.ArrayLength(array): the number of elements.
func applyArrayLength(_ *Call, args []any, _ Scope) (any, error) {
	if r, ok := args[0].(*Raw); ok {
		return float64(r.arrayLen()), nil // counted in the text, without decoding the elements
	}
	return float64(len(args[0].([]any))), nil
}

// applyArrayUnique is States.ArrayUnique(array): the elements without repeats, each at its first position.
func applyArrayUnique(c *Call, args []any, _ Scope) (any, error) {
	arr := Resolve(args[0]).([]any)
	seen := make(map[string]struct{}, len(arr))
	out := make([]any, 0, len(arr))
	for _, v := range arr {
		key, err := uniqueKey(v)
		if err != nil {
			return nil, c.failf("The array holds a value that cannot be compared: %s", err.Error())
		}
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		out = append(out, v)
	}
	return out, nil
}

// uniqueKey is a string equal for equal JSON values and different otherwise.
func uniqueKey(v any) (string, error) {
	switch v := Resolve(v).(type) {
	case string:
		return "s" + v, nil
	case float64:
		if v == 0 {
			v = 0 // -0 and 0 are the same number
		}
		return "n" + formatNumber(v), nil
	case bool:
		if v {
			return "t", nil
		}
		return "f", nil
	case nil:
		return "z", nil
	}
	s, err := jsonText(v)
	return "j" + s, err
}

// Encoding and hashing

// checkBase64 rejects a literal string longer than the 10,000 characters Base64 functions take.
func checkBase64(c *Call) error {
	if v, ok := c.literal(0); ok && utf8.RuneCountInString(v.(string)) > maxEncodedChars {
		return fmt.Errorf("the string is longer than %d characters", maxEncodedChars)
	}
	return nil
}

// applyBase64Encode is States.Base64Encode(string): the standard Base64 encoding of its UTF-8 bytes.
func applyBase64Encode(c *Call, args []any, _ Scope) (any, error) {
	s := args[0].(string)
	if n := utf8.RuneCountInString(s); n > maxEncodedChars {
		return nil, c.failf("The input string is %d characters long; at most %d can be encoded", n, maxEncodedChars)
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

// applyBase64Decode is States.Base64Decode(string): the text whose Base64 encoding string is.
func applyBase64Decode(c *Call, args []any, _ Scope) (any, error) {
	s := args[0].(string)
	if n := utf8.RuneCountInString(s); n > maxEncodedChars {
		return nil, c.failf("The input string is %d characters long; at most %d can be decoded", n, maxEncodedChars)
	}
	// MIME Base64 allows line breaks; padding may be left out.
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var rawErr error
		if b, rawErr = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); rawErr != nil {
			return nil, c.failf("The input is not valid Base64: %s", err.Error())
		}
	}
	return string(b), nil
}

// newHash returns the hash of an algorithm States.Hash accepts, or nil.
func newHash(alg string) hash.Hash {
	switch alg {
	case "MD5":
		return md5.New()
	case "SHA-1":
		return sha1.New()
	case "SHA-256":
		return sha256.New()
	case "SHA-384":
		return sha512.New384()
	case "SHA-512":
		return sha512.New()
	}
	return nil
}

const hashAlgorithms = "MD5, SHA-1, SHA-256, SHA-384, SHA-512"

// checkHash rejects literal data longer than 10,000 characters and unknown literal algorithm names.
func checkHash(c *Call) error {
	if v, ok := c.literal(0); ok && utf8.RuneCountInString(v.(string)) > maxHashChars {
		return fmt.Errorf("the data is longer than %d characters", maxHashChars)
	}
	if v, ok := c.literal(1); ok && newHash(v.(string)) == nil {
		return fmt.Errorf("unknown hash algorithm %q (one of %s)", v, hashAlgorithms)
	}
	return nil
}

// applyHash is States.Hash(data, algorithm): the lower-case hex digest of the UTF-8 bytes of data.
func applyHash(c *Call, args []any, _ Scope) (any, error) {
	data, alg := args[0].(string), args[1].(string)
	if n := utf8.RuneCountInString(data); n > maxHashChars {
		return nil, c.failf("The input data is %d characters long; at most %d can be hashed", n, maxHashChars)
	}
	h := newHash(alg)
	if h == nil {
		return nil, c.failf("The hash algorithm '%s' is not supported; use one of %s", alg, hashAlgorithms)
	}
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// JSON objects and numbers

// checkJSONMerge rejects a literal request for deep merging.
func checkJSONMerge(c *Call) error {
	if v, ok := c.literal(2); ok && v.(bool) {
		return errors.New("only shallow merging is supported: the third argument must be false")
	}
	return nil
}

// applyJSONMerge is States.JsonMerge(a, b, false): a shallow merge in which the members of b replace those of
// a with the same name; nested objects are not merged.
func applyJSONMerge(c *Call, args []any, _ Scope) (any, error) {
	if args[2].(bool) {
		return nil, c.failf("Only shallow merging is supported: the third argument must be false")
	}
	a, b := Resolve(args[0]).(map[string]any), Resolve(args[1]).(map[string]any)
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out, nil
}

// randSource adapts Scope.Rand to math/rand/v2.
type randSource func() uint64

func (f randSource) Uint64() uint64 { return f() }

// applyMathRandom is States.MathRandom(start, end[, seed]): a random integer with start <= n < end. A seed
// makes the result the same on every call with that seed (though not the number AWS would draw); without one
// the draw comes from Scope.Rand, or the process-wide source.
func applyMathRandom(c *Call, args []any, s Scope) (any, error) {
	start, ok1 := toInt(args[0].(float64))
	end, ok2 := toInt(args[1].(float64))
	if !ok1 || !ok2 || start < math.MinInt32 || end > math.MaxInt32 {
		return nil, c.failf("The start and end must be integers between %d and %d", math.MinInt32, math.MaxInt32)
	}
	if start >= end {
		return nil, c.failf("The start (%d) must be less than the end (%d)", start, end)
	}
	var n int64
	switch {
	case len(args) == 3:
		seed, ok := toInt(args[2].(float64))
		if !ok {
			return nil, c.failf("The seed must be an integer")
		}
		n = rand.New(rand.NewPCG(uint64(seed), 0)).Int64N(end - start)
	case s.Rand != nil:
		n = rand.New(randSource(s.Rand)).Int64N(end - start)
	default:
		n = rand.Int64N(end - start)
	}
	return float64(start + n), nil
}

// checkMathAdd rejects literal arguments outside the 32-bit integer range.
func checkMathAdd(c *Call) error {
	for i := range 2 {
		if v, ok := c.literal(i); ok {
			if n, ok := toInt(v.(float64)); !ok || n < minMathAddArg || n > maxMathAddArg {
				return fmt.Errorf("argument %d must be an integer between %d and %d", i+1, minMathAddArg, maxMathAddArg)
			}
		}
	}
	return nil
}

// applyMathAdd is States.MathAdd(a, b): the sum of two 32-bit integers (non-integers are rounded).
func applyMathAdd(c *Call, args []any, _ Scope) (any, error) {
	var sum int64
	for i := range 2 {
		n, ok := toInt(args[i].(float64))
		if !ok || n < minMathAddArg || n > maxMathAddArg {
			return nil, c.failf("The value of argument %d must be an integer between %d and %d, but was %s",
				i+1, minMathAddArg, maxMathAddArg, formatNumber(args[i].(float64)))
		}
		sum += n
	}
	return float64(sum), nil
}

// Strings and identifiers

// applyStringSplit is States.StringSplit(string, delimiters): the non-empty pieces of string between any of
// the characters of delimiters.
func applyStringSplit(_ *Call, args []any, _ Scope) (any, error) {
	s, delims := args[0].(string), args[1].(string)
	fields := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = f
	}
	return out, nil
}

// applyUUID is States.UUID(): a random version 4 UUID made of 128 bits of Scope.Rand.
func applyUUID(_ *Call, _ []any, s Scope) (any, error) {
	next := s.Rand
	if next == nil {
		next = rand.Uint64
	}
	var b [16]byte
	hi, lo := next(), next()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return event.UUID(b), nil
}
