package ingest

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/event"
)

// TestStats checks the counters after each kind of body, through each entry point that carries one.
func TestStats(t *testing.T) {
	t.Parallel()
	unknownType := `{"specversion":"1.0","id":"u1","source":"s","type":"nope","time":"2026-11-26T09:15:02Z","data":{}}`
	tests := []struct {
		name string
		// send hands the body to the handler through one entry point.
		send func(t *testing.T, h *Handler)
		want Stats
	}{
		{
			name: "all accepted",
			send: func(t *testing.T, h *Handler) {
				ingest(t, h, event.ContentTypeBatch, "["+pageView("a", "")+","+pageView("b", "")+"]")
			},
			want: Stats{Requests: 1, Accepted: 2, RejectedBy: map[string]int64{}, Refused: map[string]int64{}},
		},
		{
			name: "invalid events by rule",
			send: func(t *testing.T, h *Handler) {
				ingest(t, h, event.ContentTypeBatch, "["+pageView("a", "")+","+pageView("a", "")+","+unknownType+`,{"id":"x"}, 7]`)
			},
			want: Stats{Requests: 1, Accepted: 1, Rejected: 4,
				RejectedBy: map[string]int64{"duplicateId": 1, "unknownType": 1, "required": 1, "type": 1}, Refused: map[string]int64{}},
		},
		{
			name: "not taken by the stream, by code",
			send: func(t *testing.T, h *Handler) {
				h.producer.(*fakeProducer).put = refuse(event.ErrCodeThroughputExceeded, "b")
				ingest(t, h, event.ContentTypeBatch, "["+pageView("a", "")+","+pageView("b", "")+"]")
			},
			want: Stats{Requests: 1, Accepted: 1, Rejected: 1,
				RejectedBy: map[string]int64{event.ErrCodeThroughputExceeded: 1}, Refused: map[string]int64{}},
		},
		{
			name: "bodies refused as a whole",
			send: func(t *testing.T, h *Handler) {
				ingest(t, h, "text/plain", "[]")
				ingest(t, h, event.ContentTypeBatch, "[")
				ingest(t, h, event.ContentTypeBatch, strings.Repeat(" ", h.Limits().MaxBodyBytes+1))
			},
			want: Stats{Requests: 3, RejectedBy: map[string]int64{},
				Refused: map[string]int64{"unsupportedMediaType": 1, "malformed": 1, "tooLarge": 1}},
		},
		{
			name: "HTTP: a GET and a body",
			send: func(t *testing.T, h *Handler) {
				for _, r := range []*http.Request{
					httptest.NewRequest(http.MethodGet, "/v1/events", nil),
					httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(pageView("a", ""))),
				} {
					r.Header.Set("Content-Type", event.ContentTypeSingle)
					h.ServeHTTP(httptest.NewRecorder(), r)
				}
			},
			want: Stats{Requests: 2, Accepted: 1, RejectedBy: map[string]int64{}, Refused: map[string]int64{"methodNotAllowed": 1}},
		},
		{
			name: "API Gateway: bad base64 and a body",
			send: func(t *testing.T, h *Handler) {
				post := func(body string, b64 bool) {
					req := events.APIGatewayV2HTTPRequest{Body: body, IsBase64Encoded: b64,
						Headers: map[string]string{"content-type": event.ContentTypeSingle}}
					req.RequestContext.HTTP.Method = http.MethodPost
					if _, err := h.HandleAPIGateway(context.Background(), req); err != nil {
						t.Fatal(err)
					}
				}
				post("%%%", true)
				post(base64.StdEncoding.EncodeToString([]byte(pageView("a", ""))), true)
			},
			want: Stats{Requests: 2, Accepted: 1, RejectedBy: map[string]int64{}, Refused: map[string]int64{"malformed": 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, &fakeProducer{})
			tt.send(t, h)
			got := h.Stats()
			if got.Requests != tt.want.Requests || got.Accepted != tt.want.Accepted || got.Rejected != tt.want.Rejected ||
				!maps.Equal(got.RejectedBy, tt.want.RejectedBy) || !maps.Equal(got.Refused, tt.want.Refused) {
				t.Fatalf("Stats() = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

// TestStatsConcurrent checks that concurrent bodies are all counted, and that Rejected always equals the
// sum of RejectedBy, also while bodies are in flight.
func TestStatsConcurrent(t *testing.T) {
	t.Parallel()
	h := newHandler(t, &fakeProducer{})
	const workers, bodies = 8, 50
	body := "[" + pageView("a", "") + `,{"id":"x"}]`
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range bodies {
				if _, _, err := h.Ingest(context.Background(), event.ContentTypeBatch, "", []byte(body)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		defer close(watched)
		for {
			s := h.Stats()
			var sum int64
			for _, n := range s.RejectedBy {
				sum += n
			}
			if sum != s.Rejected {
				watched <- fmt.Errorf("Stats() = %+v: Rejected is not the sum of RejectedBy (%d)", s, sum)
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	s := h.Stats()
	if s.Requests != workers*bodies || s.Accepted != workers*bodies || s.Rejected != workers*bodies || s.RejectedBy["required"] != workers*bodies {
		t.Fatalf("Stats() = %+v, want %d of each", s, workers*bodies)
	}
}

// TestCountReasonBound checks that distinct reasons beyond the bound count as "other".
func TestCountReasonBound(t *testing.T) {
	t.Parallel()
	m := map[string]int64{}
	for i := range maxReasons + 10 {
		countReason(m, strings.Repeat("r", i+1))
	}
	countReason(m, "")
	if len(m) != maxReasons+1 || m[otherReason] != 11 {
		t.Fatalf("%d reasons, %d other; want %d and 11", len(m), m[otherReason], maxReasons+1)
	}
}

// ingest posts body with contentType to h, ignoring the answer.
func ingest(t *testing.T, h *Handler, contentType, body string) {
	t.Helper()
	_, _, _ = h.Ingest(context.Background(), contentType, "", []byte(body))
}
