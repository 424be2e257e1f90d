// Package bulk ingests whole objects of events: the bulk backfill from S3 (or a local folder) into the
// stream. Reader streams the events of one object with bounded memory, whatever its size; Ingester reads an
// object of an objects.Store with it, validates each event, writes the valid ones to the stream through an
// ingest.Producer, writes the rejected lines to an errors object beside the source, and stops at a deadline
// with the position to resume from.
package bulk

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/serverless-data-platform/sdp/event"
)

// Item is one event of an object, as Reader.Next returns it.
type Item struct {
	// Line is the 1-based line of the event's first byte (NDJSON: its line; array: the line it starts on).
	Line int
	// Index is the 0-based position of the event in the object, counting malformed ones.
	Index int
	// Offset is the byte offset (uncompressed) just after the event (NDJSON: after its line's end): where a
	// resumed read starts.
	Offset int64
	// Raw is the event's JSON, without surrounding white space. It is valid until the next call to Next.
	Raw []byte
	// Err is non-nil when this line or element is malformed or too large: a *event.ValidationError with
	// Rule json, type, utf8, maxDepth or maxEventBytes. Raw then holds what was read, cut at MaxEventBytes.
	Err error
}

// ReaderOptions tune a Reader. The zero value reads a whole object with event.DefaultLimits.
type ReaderOptions struct {
	// Limits bound one event (MaxEventBytes, MaxDepth); zero fields take event.DefaultLimits. The limits on
	// a whole body (MaxBodyBytes, MaxDecodedBytes, MaxEvents) do not apply to objects.
	Limits event.Limits
	// Skip is how many events to read past without returning them: the Index of the first event to return,
	// for resuming an object that cannot be read from an offset (gzip, or a JSON array).
	Skip int
	// Format forces the format: event.FormatNDJSON or event.FormatBatch. FormatAuto (the default) decides
	// by the first byte that is not white space: '[' is an array, anything else NDJSON. A ranged read from
	// the middle of an NDJSON object sets FormatNDJSON, since a line there may start with '['.
	Format event.Format
	// Offset, Line and Index are the position in the object of the first byte of r, when r is a ranged read
	// that starts after Offset bytes (at the start of line Line, with Index events before it). They only
	// shift the positions of the Items returned; zero values mean the start of the object.
	Offset int64
	Line   int
	Index  int
}

// Reader streams the events of one object: NDJSON (one event per line; empty lines are skipped but
// counted), a JSON array of events (a CloudEvents batch has the same shape), each gzip-compressed or not.
// Compression is detected by gzip's magic bytes, never by the object's key; concatenated gzip members are
// read as one stream. A UTF-8 byte order mark at the start is ignored.
//
// Memory is bounded: a Reader holds at most one event (MaxEventBytes, the rest of an oversized event is
// read and dropped) besides fixed-size read buffers, whatever the object's size. A Reader is not safe for
// concurrent use.
type Reader struct {
	br         *bufio.Reader
	zr         *gzip.Reader
	lim        event.Limits
	skip       int
	array      bool
	compressed bool
	// started is set once the format is known (and an array's '[' consumed); final once the last event was
	// read (Next returns false at its next call); done once Next returned false.
	started, final, done bool
	// offset is the count of uncompressed bytes consumed; line is the 1-based line of the next byte.
	offset int64
	line   int
	index  int
	// buf holds the event being read; tooBig and size describe one that did not fit.
	buf []byte
	err error
}

// readBufferSize is the size of the Reader's read buffer.
const readBufferSize = 64 << 10

// gzipMagic starts every gzip member.
var gzipMagic = []byte{0x1f, 0x8b}

// utf8BOM is the UTF-8 byte order mark some tools write at the start of text files.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// NewReader returns a Reader of the object whose content r streams. It reads the first bytes of r to tell
// gzip apart, and fails only when r fails then or when a gzip header is broken; errors later are returned
// by Err.
func NewReader(r io.Reader, opts ReaderOptions) (*Reader, error) {
	rd := &Reader{
		lim:    opts.Limits.OrDefault(),
		skip:   opts.Skip,
		offset: opts.Offset,
		line:   max(opts.Line, 1),
		index:  opts.Index,
	}
	br := bufio.NewReaderSize(r, readBufferSize)
	head, err := br.Peek(len(gzipMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bulk: reading the start of the object: %w", err)
	}
	if bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bulk: the object starts as gzip but its header is broken: %w", err)
		}
		rd.zr, rd.compressed = zr, true
		br = bufio.NewReaderSize(zr, readBufferSize)
	}
	rd.br = br
	switch opts.Format {
	case event.FormatNDJSON:
		rd.started = true
	case event.FormatBatch:
		rd.array = true
	}
	return rd, nil
}

// Compressed reports whether the object is gzip-compressed.
func (r *Reader) Compressed() bool { return r.compressed }

// Err returns the error that ended the reading: the source failed, the gzip stream is broken or cut short,
// or the JSON array is malformed (it wraps event.ErrMalformed then). It is nil at a clean end.
func (r *Reader) Err() error { return r.err }

// Next returns the next event of the object. It returns false at the end of the object or on an error that
// stops the reading (see Err). A malformed or oversized event does not stop it: it is returned with Err set,
// and the reading goes on with the next line or element.
func (r *Reader) Next() (Item, bool) {
	for !r.done {
		if r.final {
			r.done = true
			break
		}
		var it Item
		var ok bool
		if !r.started {
			if !r.start() {
				r.done = true
				break
			}
		}
		if r.array {
			it, ok = r.nextElement()
		} else {
			it, ok = r.nextLine()
		}
		if !ok {
			r.done = true
			break
		}
		if it.Index < r.skip {
			continue
		}
		return it, true
	}
	return Item{}, false
}

// fail ends the reading with err.
func (r *Reader) fail(err error) bool {
	if r.err == nil {
		r.err = err
	}
	return false
}

// readErr wraps an error of the source or of the gzip stream.
func (r *Reader) readErr(err error) error {
	if r.compressed {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("bulk: the gzip stream is cut short after %d bytes of content: %w", r.offset, err)
		}
		return fmt.Errorf("bulk: reading the gzip stream after %d bytes of content: %w", r.offset, err)
	}
	return fmt.Errorf("bulk: reading the object after %d bytes: %w", r.offset, err)
}

// start skips a byte order mark and white space and decides the format. It returns false at the end of
// the object (an empty object holds no events) or on an error.
func (r *Reader) start() bool {
	if head, _ := r.br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		r.discard(len(utf8BOM))
	}
	c, ok := r.peekNonSpace()
	if !ok {
		return false
	}
	r.started = true
	if c == '[' || r.array {
		if c != '[' {
			return r.fail(fmt.Errorf("%w: line %d: a JSON array of events must start with '[', found %q", event.ErrMalformed, r.line, c))
		}
		r.array = true
		r.discard(1)
		// An empty array holds no events.
		c, ok = r.peekNonSpace()
		if !ok {
			return r.fail(fmt.Errorf("%w: the array is not closed", event.ErrMalformed))
		}
		if c == ']' {
			r.discard(1)
			return r.endOfArray()
		}
	}
	return true
}

// discard consumes n bytes already peeked, none of them a newline.
func (r *Reader) discard(n int) {
	k, _ := r.br.Discard(n)
	r.offset += int64(k)
}

// peekNonSpace consumes white space (counting lines) and returns the next byte without consuming it. It
// returns false at the end of the input or on an error.
func (r *Reader) peekNonSpace() (byte, bool) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.fail(r.readErr(err))
			}
			return 0, false
		}
		switch c {
		case '\n':
			r.line++
			fallthrough
		case ' ', '\t', '\r':
			r.offset++
			continue
		}
		_ = r.br.UnreadByte()
		return c, true
	}
}

// endOfArray checks that only white space follows the closing bracket of the array. It returns false.
func (r *Reader) endOfArray() bool {
	if c, ok := r.peekNonSpace(); ok {
		return r.fail(fmt.Errorf("%w: line %d: unexpected %q after the end of the array", event.ErrMalformed, r.line, c))
	}
	return false
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nextLine reads the next non-empty line of an NDJSON object.
func (r *Reader) nextLine() (Item, bool) {
	for {
		line := r.line
		r.buf = r.buf[:0]
		// over counts the bytes of the line past MaxEventBytes up to its last byte that is not white space.
		var over, pending int
		end := false
		for !end {
			chunk, err := r.br.ReadSlice('\n')
			r.offset += int64(len(chunk))
			switch {
			case err == nil:
				end = true
			case errors.Is(err, bufio.ErrBufferFull):
			case errors.Is(err, io.EOF):
				if len(chunk) == 0 && len(r.buf) == 0 && over == 0 {
					return Item{}, false
				}
				end = true
			default:
				return Item{}, r.fail(r.readErr(err))
			}
			if len(r.buf) == 0 && over == 0 {
				// Leading white space is not part of the event.
				i := 0
				for i < len(chunk) && isSpace(chunk[i]) {
					i++
				}
				chunk = chunk[i:]
			}
			if room := r.lim.MaxEventBytes - len(r.buf); room > 0 {
				n := min(room, len(chunk))
				r.buf = append(r.buf, chunk[:n]...)
				chunk = chunk[n:]
			}
			for _, c := range chunk {
				pending++
				if !isSpace(c) {
					over += pending
					pending = 0
				}
			}
		}
		r.line++
		if over == 0 {
			r.buf = bytes.TrimRight(r.buf, " \t\r\n")
		}
		if len(r.buf) == 0 {
			continue // an empty line
		}
		it := Item{Line: line, Index: r.index, Offset: r.offset, Raw: r.buf}
		r.index++
		if over > 0 {
			it.Err = tooLarge(len(r.buf)+over, r.lim.MaxEventBytes)
		} else {
			it.Err = checkEvent(r.buf, r.lim)
		}
		return it, true
	}
}

// nextElement reads the next element of a JSON array, and the comma or closing bracket after it.
func (r *Reader) nextElement() (Item, bool) {
	c, ok := r.peekNonSpace()
	if !ok {
		if r.err == nil {
			r.fail(fmt.Errorf("%w: the array is not closed (after %d events)", event.ErrMalformed, r.index))
		}
		return Item{}, false
	}
	if c == ',' || c == ']' {
		return Item{}, r.fail(fmt.Errorf("%w: line %d: expected an event, found %q", event.ErrMalformed, r.line, c))
	}
	line := r.line
	r.buf = r.buf[:0]
	size, err := r.scanValue()
	if err != nil {
		return Item{}, r.fail(err)
	}
	it := Item{Line: line, Index: r.index, Offset: r.offset, Raw: r.buf}
	r.index++
	if size > len(r.buf) {
		it.Err = tooLarge(size, r.lim.MaxEventBytes)
	} else {
		it.Err = checkEvent(r.buf, r.lim)
	}
	// What follows the element: another one, or the end of the array.
	c, ok = r.peekNonSpace()
	switch {
	case !ok:
		if r.err == nil {
			r.fail(fmt.Errorf("%w: the array is not closed (after %d events)", event.ErrMalformed, r.index))
		}
		// The element itself was whole: return it, and stop at the next call.
		r.final = true
	case c == ',':
		r.discard(1)
	case c == ']':
		r.discard(1)
		r.endOfArray()
		r.final = true
	default:
		r.fail(fmt.Errorf("%w: line %d: expected ',' or ']' after event %d, found %q", event.ErrMalformed, r.line, it.Index, c))
		r.final = true
	}
	return it, true
}

// scanValue reads one JSON value into r.buf (up to MaxEventBytes) and returns its full size. It tracks
// strings and the nesting of brackets to find where the value ends; the value's grammar is checked later,
// by checkEvent. An unbalanced value is found as a malformed array.
func (r *Reader) scanValue() (int, error) {
	size, depth := 0, 0
	inString, escaped := false, false
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if depth == 0 && !inString && size > 0 {
					return size, nil
				}
				return size, fmt.Errorf("%w: the array ends inside event %d (line %d)", event.ErrMalformed, r.index, r.line)
			}
			return size, r.readErr(err)
		}
		if !inString && depth == 0 && size > 0 && (c == ',' || c == ']' || isSpace(c)) {
			// A scalar element ended.
			_ = r.br.UnreadByte()
			return size, nil
		}
		r.offset++
		if size < r.lim.MaxEventBytes {
			r.buf = append(r.buf, c)
		}
		size++
		switch {
		case c == '\n':
			r.line++
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 0 {
					return size, nil // a string element
				}
			}
			continue
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth < 0 {
				return size, fmt.Errorf("%w: line %d: unexpected %q in event %d", event.ErrMalformed, r.line, c, r.index)
			}
		}
		if depth == 0 && (c == '}' || c == ']') {
			return size, nil
		}
	}
}

// tooLarge is the error of an event of size bytes over the limit.
func tooLarge(size, limit int) error {
	return &event.ValidationError{Rule: "maxEventBytes",
		Message: fmt.Sprintf("the event is %d bytes, the limit is %d", size, limit)}
}

// checkEvent reports whether b is one well-formed JSON object within the depth limit, in UTF-8, with the
// same rules and messages as ingest's HTTP path.
func checkEvent(b []byte, lim event.Limits) error {
	depth, err := event.Depth(b)
	if err != nil {
		return &event.ValidationError{Rule: "json", Message: "malformed JSON: " + err.Error()}
	}
	if b[0] != '{' {
		return &event.ValidationError{Rule: "type", Message: "an event must be a JSON object"}
	}
	if depth > lim.MaxDepth {
		return &event.ValidationError{Rule: "maxDepth", Message: fmt.Sprintf("nesting is deeper than %d levels", lim.MaxDepth)}
	}
	if !utf8.Valid(b) {
		return &event.ValidationError{Rule: "utf8", Message: "the event is not valid UTF-8"}
	}
	return nil
}
