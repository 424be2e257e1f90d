package event

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"
)

// Format is how a body carries its events.
type Format int

// The formats ingest accepts.
const (
	// FormatAuto is a JSON body whose first byte decides: '{' one event, '[' a batch.
	FormatAuto Format = iota
	// FormatSingle is one event (application/cloudevents+json).
	FormatSingle
	// FormatBatch is a JSON array of events (application/cloudevents-batch+json).
	FormatBatch
	// FormatNDJSON is one event per line (application/x-ndjson).
	FormatNDJSON
)

// Content types of the formats.
const (
	ContentTypeSingle = "application/cloudevents+json"
	ContentTypeBatch  = "application/cloudevents-batch+json"
	ContentTypeJSON   = "application/json"
	ContentTypeNDJSON = "application/x-ndjson"
)

// Limits bound what one body may hold. The zero value means DefaultLimits.
type Limits struct {
	// MaxBodyBytes bounds the body as sent (compressed or not). Lambda's synchronous payload limit is 6 MB.
	MaxBodyBytes int
	// MaxDecodedBytes bounds the body after decompression, which stops gzip bombs.
	MaxDecodedBytes int
	// MaxEventBytes bounds one event: a Kinesis record holds at most 1 MiB.
	MaxEventBytes int
	// MaxEvents bounds the number of events in one body.
	MaxEvents int
	// MaxDepth bounds the nesting of objects and arrays within one event.
	MaxDepth int
}

// DefaultLimits are the limits ingest applies unless told otherwise.
var DefaultLimits = Limits{
	MaxBodyBytes:    6 << 20,
	MaxDecodedBytes: 32 << 20,
	MaxEventBytes:   MaxRecordBytes,
	MaxEvents:       10000,
	MaxDepth:        32,
}

// OrDefault fills each zero field from DefaultLimits.
func (l Limits) OrDefault() Limits {
	d := DefaultLimits
	if l.MaxBodyBytes > 0 {
		d.MaxBodyBytes = l.MaxBodyBytes
	}
	if l.MaxDecodedBytes > 0 {
		d.MaxDecodedBytes = l.MaxDecodedBytes
	}
	if l.MaxEventBytes > 0 {
		d.MaxEventBytes = l.MaxEventBytes
	}
	if l.MaxEvents > 0 {
		d.MaxEvents = l.MaxEvents
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	return d
}

// Sentinel errors about a body as a whole. Errors returned by this package wrap them, so callers choose an
// HTTP status with errors.Is.
var (
	// ErrUnsupportedMediaType: the content type is not one of the accepted formats (HTTP 415).
	ErrUnsupportedMediaType = errors.New("unsupported content type")
	// ErrUnsupportedEncoding: the content encoding is neither identity nor gzip (HTTP 415).
	ErrUnsupportedEncoding = errors.New("unsupported content encoding")
	// ErrTooLarge: the body, once decoded, or one event is over the limits (HTTP 413).
	ErrTooLarge = errors.New("too large")
	// ErrMalformed: the body cannot be split into events (HTTP 400).
	ErrMalformed = errors.New("malformed body")
)

// ParseFormat maps a Content-Type header to a Format. An empty header means FormatAuto.
func ParseFormat(contentType string) (Format, error) {
	if strings.TrimSpace(contentType) == "" {
		return FormatAuto, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v; use %s, %s or %s", ErrUnsupportedMediaType, contentType, err,
			ContentTypeSingle, ContentTypeBatch, ContentTypeNDJSON)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, fmt.Errorf("%w: charset %q: events must be UTF-8", ErrUnsupportedMediaType, cs)
	}
	switch mt {
	case ContentTypeSingle:
		return FormatSingle, nil
	case ContentTypeBatch:
		return FormatBatch, nil
	case ContentTypeJSON:
		return FormatAuto, nil
	case ContentTypeNDJSON, "application/jsonl", "application/json-seq", "application/x-jsonlines":
		return FormatNDJSON, nil
	}
	return 0, fmt.Errorf("%w: %q; use %s, %s, %s or %s", ErrUnsupportedMediaType, mt,
		ContentTypeSingle, ContentTypeBatch, ContentTypeJSON, ContentTypeNDJSON)
}

// Decode undoes a Content-Encoding (identity or gzip), refusing more than limit decoded bytes.
func Decode(encoding string, body []byte, limit int) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		if len(body) > limit {
			return nil, fmt.Errorf("%w: body is %d bytes, the limit is %d", ErrTooLarge, len(body), limit)
		}
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
		}
		defer zr.Close()
		out := bytes.NewBuffer(make([]byte, 0, min(limit, 4*len(body)+512)))
		n, err := io.Copy(out, io.LimitReader(zr, int64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
		}
		if n > int64(limit) {
			return nil, fmt.Errorf("%w: gzip body decodes to more than %d bytes", ErrTooLarge, limit)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: %q; use gzip or none", ErrUnsupportedEncoding, encoding)
}

// Split cuts a decoded body into the raw JSON of each event and calls fn for each, in order, with its
// index. An event that is not well-formed, not valid UTF-8, too deep or too large is passed with a
// non-nil *ValidationError (and the raw bytes as far as they are known), so that its neighbours still go
// through. Split returns an error only when the body as a whole cannot be split: a malformed JSON array,
// more than MaxEvents events, or an empty body.
func Split(f Format, body []byte, lim Limits, fn func(index int, raw []byte, err error)) error {
	lim = lim.OrDefault()
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return fmt.Errorf("%w: the body is empty; send one event, a JSON array of events or NDJSON", ErrMalformed)
	}
	if f == FormatAuto {
		switch b[0] {
		case '[':
			f = FormatBatch
		case '{':
			f = FormatSingle
		default:
			return fmt.Errorf("%w: a JSON body must start with '{' (one event) or '[' (a batch), found %q",
				ErrMalformed, b[0])
		}
	}
	switch f {
	case FormatSingle:
		if len(b) > lim.MaxEventBytes {
			return fmt.Errorf("%w: the event is %d bytes, the limit is %d", ErrTooLarge, len(b), lim.MaxEventBytes)
		}
		fn(0, b, checkEvent(b, lim))
		return nil
	case FormatBatch:
		return splitArray(b, lim, fn)
	case FormatNDJSON:
		return splitLines(b, lim, fn)
	}
	return fmt.Errorf("%w: unknown format %d", ErrUnsupportedMediaType, f)
}

func splitArray(b []byte, lim Limits, fn func(int, []byte, error)) error {
	if b[0] != '[' {
		return fmt.Errorf("%w: a batch must be a JSON array of events", ErrMalformed)
	}
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		if rest := skipSpace(b, i+1); rest != len(b) {
			return fmt.Errorf("%w: unexpected data after the array at byte %d", ErrMalformed, rest)
		}
		return fmt.Errorf("%w: the batch is an empty array", ErrMalformed)
	}
	type item struct {
		start, end int
		err        error
	}
	var items []item
	for {
		if len(items) >= lim.MaxEvents {
			return fmt.Errorf("%w: more than %d events in one body; split it", ErrTooLarge, lim.MaxEvents)
		}
		start := i
		end, depth, err := skipValue(b, i)
		if err != nil {
			return fmt.Errorf("%w: event %d: %v", ErrMalformed, len(items), err)
		}
		var verr error
		switch {
		case end-start > lim.MaxEventBytes:
			verr = &ValidationError{Rule: "maxEventBytes", Message: fmt.Sprintf("the event is %d bytes, the limit is %d", end-start, lim.MaxEventBytes)}
		case b[start] != '{':
			verr = &ValidationError{Rule: "type", Message: "an event must be a JSON object"}
		case depth > lim.MaxDepth:
			verr = &ValidationError{Rule: "maxDepth", Message: fmt.Sprintf("nesting is deeper than %d levels", lim.MaxDepth)}
		case !utf8.Valid(b[start:end]):
			verr = &ValidationError{Rule: "utf8", Message: "the event is not valid UTF-8"}
		}
		items = append(items, item{start, end, verr})
		i = skipSpace(b, end)
		if i >= len(b) {
			return fmt.Errorf("%w: the array is not closed", ErrMalformed)
		}
		if b[i] == ']' {
			if rest := skipSpace(b, i+1); rest != len(b) {
				return fmt.Errorf("%w: unexpected data after the array at byte %d", ErrMalformed, rest)
			}
			break
		}
		if b[i] != ',' {
			return fmt.Errorf("%w: expected ',' or ']' after event %d at byte %d, found %q", ErrMalformed, len(items)-1, i, b[i])
		}
		i = skipSpace(b, i+1)
	}
	for k, it := range items {
		fn(k, b[it.start:it.end], it.err)
	}
	return nil
}

func splitLines(b []byte, lim Limits, fn func(int, []byte, error)) error {
	n := 0
	for len(b) > 0 {
		line := b
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			line, b = b[:j], b[j+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if n >= lim.MaxEvents {
			return fmt.Errorf("%w: more than %d events in one body; split it", ErrTooLarge, lim.MaxEvents)
		}
		var verr error
		if len(line) > lim.MaxEventBytes {
			verr = &ValidationError{Rule: "maxEventBytes", Message: fmt.Sprintf("the event is %d bytes, the limit is %d", len(line), lim.MaxEventBytes)}
		} else {
			verr = checkEvent(line, lim)
		}
		fn(n, line, verr)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: the body holds no events", ErrMalformed)
	}
	return nil
}

// checkEvent reports whether b is one well-formed JSON object within the depth limit, in UTF-8.
func checkEvent(b []byte, lim Limits) error {
	end, depth, err := skipValue(b, 0)
	if err != nil {
		return &ValidationError{Rule: "json", Message: "malformed JSON: " + err.Error()}
	}
	if rest := skipSpace(b, end); rest != len(b) {
		return &ValidationError{Rule: "json", Message: fmt.Sprintf("malformed JSON: unexpected data after the event at byte %d", rest)}
	}
	if b[0] != '{' {
		return &ValidationError{Rule: "type", Message: "an event must be a JSON object"}
	}
	if depth > lim.MaxDepth {
		return &ValidationError{Rule: "maxDepth", Message: fmt.Sprintf("nesting is deeper than %d levels", lim.MaxDepth)}
	}
	if !utf8.Valid(b) {
		return &ValidationError{Rule: "utf8", Message: "the event is not valid UTF-8"}
	}
	return nil
}

// Depth checks that b is one JSON value and returns how deeply its arrays and objects nest. It does not
// recurse, so it is safe to call before handing untrusted input to a recursive decoder.
func Depth(b []byte) (int, error) {
	end, depth, err := skipValue(b, 0)
	if err != nil {
		return 0, err
	}
	if rest := skipSpace(b, end); rest != len(b) {
		return 0, fmt.Errorf("unexpected data after the value at byte %d", rest)
	}
	return depth, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue scans one JSON value starting at b[i] and returns the index just past it and its nesting depth.
// It checks the grammar of the value strictly (strings, numbers, literals, commas and colons) without
// recursion, so a body nested millions of levels deep costs memory in proportion to its size, never the
// goroutine stack; it allocates only past 64 levels.
func skipValue(b []byte, i int) (end, depth int, err error) {
	var buf [64]byte
	stack := buf[:0] // the closing byte each open container expects
	i = skipSpace(b, i)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, 0, errors.New("unexpected end of input")
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			stack = append(stack, closer)
			depth = max(depth, len(stack))
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if closer == '}' {
				if i, err = skipKey(b, i); err != nil {
					return i, 0, err
				}
			}
			continue
		case c == '"':
			if i, err = skipString(b, i); err != nil {
				return i, 0, err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if i, err = skipNumber(b, i); err != nil {
				return i, 0, err
			}
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if !bytes.HasPrefix(b[i:], []byte(lit)) {
				return i, 0, fmt.Errorf("invalid literal at byte %d", i)
			}
			i += len(lit)
		default:
			return i, 0, fmt.Errorf("invalid character %q at byte %d", c, i)
		}
		// A value ended at b[i]: close containers until one continues with another element.
		for {
			if len(stack) == 0 {
				return i, depth, nil
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, 0, errors.New("unexpected end of input")
			}
			closer := stack[len(stack)-1]
			if b[i] == closer {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return i, 0, fmt.Errorf("expected ',' or %q at byte %d, found %q", closer, i, b[i])
			}
			i = skipSpace(b, i+1)
			if closer == '}' {
				if i, err = skipKey(b, i); err != nil {
					return i, 0, err
				}
			}
			break
		}
	}
}

// skipKey scans an object member's key and colon at b[i], returning where its value starts.
func skipKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, fmt.Errorf("expected a quoted key at byte %d", i)
	}
	end, err := skipString(b, i)
	if err != nil {
		return end, err
	}
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return i, fmt.Errorf("expected ':' at byte %d", i)
	}
	return skipSpace(b, i+1), nil
}

// plainStringByte marks the bytes a JSON string holds as they are: anything but the quote, the backslash
// and control characters.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func skipString(b []byte, i int) (int, error) {
	start := i
	i++
	for i < len(b) {
		// Runs of plain bytes, the bulk of a string, are passed over a table lookup at a time.
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, errors.New("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return i, fmt.Errorf("invalid \\u escape at byte %d", i)
				}
				i += 6
			default:
				return i, fmt.Errorf("invalid escape at byte %d", i)
			}
		case c < 0x20:
			return i, fmt.Errorf("control character in string at byte %d", i)
		default:
			i++
		}
	}
	return start, fmt.Errorf("unterminated string starting at byte %d", start)
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, fmt.Errorf("invalid number at byte %d", start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, fmt.Errorf("invalid number at byte %d", start)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, fmt.Errorf("invalid number at byte %d", start)
		}
	}
	return i, nil
}
