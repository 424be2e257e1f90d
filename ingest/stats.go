package ingest

import (
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Stats counts what a Handler did since it was made: the bodies it was given and the fate of their events.
// It covers every entry point that carries a body (ServeHTTP, HandleAPIGateway, Invoke with events); the
// objects read by the S3 path report their own counts in their ObjectOutcome and are not counted here.
type Stats struct {
	// Requests counts the bodies handled, those refused as a whole included.
	Requests int64 `json:"requests"`
	// Accepted counts the events the stream took.
	Accepted int64 `json:"accepted"`
	// Rejected counts the events of read bodies that were not accepted: invalid, or not taken by the stream.
	Rejected int64 `json:"rejected"`
	// RejectedBy splits Rejected by reason: the rule an invalid event broke (the Rule of its
	// event.ValidationError: "required", "type", "unknownType", "duplicateId" ...), or the stream's error code
	// for a valid event it did not take (ProvisionedThroughputExceededException, InternalFailure). It is
	// never nil.
	RejectedBy map[string]int64 `json:"rejectedBy"`
	// Refused counts the bodies refused as a whole, by reason: unsupportedMediaType, unsupportedEncoding,
	// tooLarge, malformed or methodNotAllowed. It is never nil.
	Refused map[string]int64 `json:"refused"`
}

// maxReasons bounds the distinct reasons Stats keeps; the rest count under otherReason.
const maxReasons = 64

// otherReason is the reason of rejections beyond maxReasons distinct ones, and of errors without a rule.
const otherReason = "other"

// counters is the live state behind Stats. The totals of every body are atomic, so that a body costs the hot
// path two atomic adds; the rejections take a lock, for bodies that have some.
type counters struct {
	requests, accepted atomic.Int64
	mu                 sync.Mutex
	// rejected is the sum of rejectedBy.
	rejected            int64
	rejectedBy, refused map[string]int64
}

// body counts one read body: accepted events, and the reason of each rejected one.
func (c *counters) body(accepted int, reasons []string) {
	c.requests.Add(1)
	c.accepted.Add(int64(accepted))
	if len(reasons) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Under the lock, so that Rejected always equals the sum of RejectedBy.
	c.rejected += int64(len(reasons))
	if c.rejectedBy == nil {
		c.rejectedBy = make(map[string]int64)
	}
	for _, r := range reasons {
		countReason(c.rejectedBy, r)
	}
}

// refuse counts one body refused as a whole, for reason.
func (c *counters) refuse(reason string) {
	c.requests.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = make(map[string]int64)
	}
	countReason(c.refused, reason)
}

// countReason adds one to m[reason], or to m[otherReason] when m is full.
func countReason(m map[string]int64, reason string) {
	if reason == "" {
		reason = otherReason
	}
	if _, ok := m[reason]; !ok && len(m) >= maxReasons {
		reason = otherReason
	}
	m[reason]++
}

// Stats returns the Handler's counters. It is safe to call at any time, concurrently with requests.
// Rejected always equals the sum of RejectedBy; a body in flight may already count in Requests and Accepted
// and not yet in its rejections.
func (h *Handler) Stats() Stats {
	c := &h.stats
	s := Stats{Requests: c.requests.Load(), Accepted: c.accepted.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Rejected = c.rejected
	s.RejectedBy = maps.Clone(c.rejectedBy)
	s.Refused = maps.Clone(c.refused)
	if s.RejectedBy == nil {
		s.RejectedBy = map[string]int64{}
	}
	if s.Refused == nil {
		s.Refused = map[string]int64{}
	}
	return s
}

// ruleOf is the reason Stats files a rejected event's error under: its validation rule.
func ruleOf(err error) string {
	if ve := (*event.ValidationError)(nil); errors.As(err, &ve) {
		return ve.Rule
	}
	return otherReason
}

// refusalOf is the reason Stats files a body refused as a whole under.
func refusalOf(err error) string {
	switch {
	case errors.Is(err, event.ErrUnsupportedMediaType):
		return "unsupportedMediaType"
	case errors.Is(err, event.ErrUnsupportedEncoding):
		return "unsupportedEncoding"
	case errors.Is(err, event.ErrTooLarge):
		return "tooLarge"
	case errors.Is(err, event.ErrMalformed):
		return "malformed"
	}
	return otherReason
}

// metricReason maps a Stats reason (a validation rule, a refusal or a stream error code) to the small, fixed
// vocabulary of the EventsRejected metric's Reason dimension, so that the dimension's values stay few:
// unknown_type, malformed (not JSON, not UTF-8, too deep, an unsupported content type or encoding),
// too_large, duplicate_id, throttled (the stream pushed back), stream_error (another stream error), other
// (a failure that is none of these), and invalid (any other schema rule).
func metricReason(reason string) string {
	switch reason {
	case "unknownType":
		return telemetry.ReasonUnknownType
	case "json", "utf8", "maxDepth", "malformed", "unsupportedMediaType", "unsupportedEncoding":
		return telemetry.ReasonMalformed
	case "maxEventBytes", "tooLarge":
		return telemetry.ReasonTooLarge
	case "duplicateId":
		return telemetry.ReasonDuplicateID
	case event.ErrCodeThroughputExceeded:
		return telemetry.ReasonThrottled
	case otherReason:
		return telemetry.ReasonOther
	}
	if reason == event.ErrCodeInternalFailure || strings.HasSuffix(reason, "Exception") {
		return telemetry.ReasonStreamError
	}
	return telemetry.ReasonInvalid
}
