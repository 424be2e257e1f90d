package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// ServeHTTP answers POST /v1/events in local mode. It reads at most Limits().MaxBodyBytes+1 bytes of the
// body (more is a 413 without reading further), passes the Content-Type and Content-Encoding headers and
// the body to Ingest, and writes the Response as JSON, with Retry-After on a 429 or 503. A method other
// than POST gets a 405 with an Allow header.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.stats.refuse(refusedMethod)
		writeHTTP(w, http.StatusMethodNotAllowed, methodNotAllowed(r.Method))
		return
	}
	buf, _ := h.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer func() {
		// Bodies far above the usual size are not kept, so that one large request does not pin its memory.
		if cap(*buf) <= maxPooledBody {
			h.bodies.Put(buf)
		}
	}()
	body, err := readBody(w, r, h.limits.MaxBodyBytes, (*buf)[:0])
	if err != nil {
		status, resp, _ := h.bodyError(err)
		writeHTTP(w, status, resp)
		return
	}
	*buf = body
	status, resp, _ := h.Ingest(r.Context(), r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), body)
	writeHTTP(w, status, resp)
}

// maxPooledBody is the largest body buffer ServeHTTP keeps for the next request.
const maxPooledBody = 1 << 20

// readBody reads r's body up to limit+1 bytes into dst (reusing its capacity), so that Ingest itself reports
// a body one byte over the limit; a longer one fails here with an error wrapping event.ErrTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int, dst []byte) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, fmt.Errorf("%w: the body is %d bytes, the limit is %d", event.ErrTooLarge, r.ContentLength, limit)
	}
	size := 64 << 10
	if r.ContentLength >= 0 {
		size = int(r.ContentLength)
	}
	// bytes.Buffer.ReadFrom wants MinRead bytes free before each read: leave room so that a body of the
	// announced length is read without growing the buffer.
	if cap(dst) < size+bytes.MinRead {
		dst = make([]byte, 0, size+bytes.MinRead)
	}
	buf := bytes.NewBuffer(dst[:0])
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, int64(limit)+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("%w: the body is over the limit of %d bytes", event.ErrTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", event.ErrMalformed, err)
	}
	return buf.Bytes(), nil
}

// writeHTTP writes resp as the JSON answer with status.
func writeHTTP(w http.ResponseWriter, status int, resp Response) {
	b, err := segjson.Marshal(resp)
	if err != nil {
		http.Error(w, "ingest: encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", event.ContentTypeJSON)
	if v := retryAfterHeader(resp.RetryAfter); v != "" {
		hdr.Set("Retry-After", v)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// retryAfterHeader renders d as a Retry-After value: whole seconds, rounded up; "" when d is zero.
func retryAfterHeader(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// refusedMethod is the Stats reason of a request whose method is not POST.
const refusedMethod = "methodNotAllowed"

// methodNotAllowed is the answer to a request whose method is not POST.
func methodNotAllowed(method string) Response {
	return Response{Errors: []ItemError{}, Error: fmt.Sprintf("method %s is not allowed; send the events with POST", method)}
}
