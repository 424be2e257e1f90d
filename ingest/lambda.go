package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// ErrUnsupportedEvent is wrapped by the error Invoke returns for an AWS event that the function does not
// handle: S3 notifications and EventBridge S3 events when the S3 path is off (WithObjects), other
// EventBridge events, API Gateway payload format 1.0, other services' records.
var ErrUnsupportedEvent = errors.New("unsupported event")

// HandleAPIGateway answers an API Gateway HTTP API request (payload format 2.0) for POST /v1/events the way
// ServeHTTP answers a local one: same statuses, JSON body and headers. The body is base64-decoded when
// IsBase64Encoded; headers are looked up by their lower-case names, as payload 2.0 sends them. The error
// is non-nil only when the answer cannot be encoded.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if m := req.RequestContext.HTTP.Method; m != "" && m != http.MethodPost {
		h.stats.refuse(refusedMethod)
		resp, err := apiResponse(http.StatusMethodNotAllowed, methodNotAllowed(m))
		if err != nil {
			return resp, err
		}
		resp.Headers["Allow"] = http.MethodPost
		return resp, nil
	}
	var body []byte
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			status, resp, _ := h.bodyError(fmt.Errorf("%w: the body is not valid base64: %v", event.ErrMalformed, err))
			return apiResponse(status, resp)
		}
	} else {
		body = []byte(req.Body)
	}
	status, resp, _ := h.Ingest(ctx, header(req.Headers, "content-type"), header(req.Headers, "content-encoding"), body)
	return apiResponse(status, resp)
}

// apiResponse is resp as an API Gateway HTTP API response with status.
func apiResponse(status int, resp Response) (events.APIGatewayV2HTTPResponse, error) {
	b, err := segjson.Marshal(resp)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("ingest: encoding the answer: %w", err)
	}
	out := events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": event.ContentTypeJSON},
		Body:       string(b),
	}
	if v := retryAfterHeader(resp.RetryAfter); v != "" {
		out.Headers["Retry-After"] = v
	}
	return out, nil
}

// header returns the value of the header name (lower case) in hdr, whatever the case of its key.
func header(hdr map[string]string, name string) string {
	if v, ok := hdr[name]; ok {
		return v
	}
	for k, v := range hdr {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// invocation holds the members by which Invoke tells the shapes of Lambda payloads apart. Its keys are
// matched case-sensitively; none of them is a valid CloudEvent attribute name (those are lower-case
// letters and digits only), except "version" and "source", which are only read together with others.
type invocation struct {
	events.APIGatewayV2HTTPRequest
	// HTTPMethod and Path are set by API Gateway payload format 1.0.
	HTTPMethod string `json:"httpMethod"`
	Path       string `json:"path"`
	// Records is set by S3, SQS, SNS, Kinesis and DynamoDB notifications.
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// Resume is set by the function's own request to continue an object (see WithSelfInvoker).
	Resume *ResumeRequest `json:"sdpResume"`
	// Source, DetailType and Detail are set by EventBridge events.
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"detail"`
}

// Invoke is the Lambda entry point of the function. It tells the payload's shape apart:
//   - an API Gateway HTTP API event (payload format 2.0) is answered by HandleAPIGateway, and Invoke
//     returns the APIGatewayV2HTTPResponse as JSON;
//   - an S3 event notification (ObjectCreated:*), an EventBridge "Object Created" event or the function's
//     own ResumeRequest ingests the objects it names when the S3 path is on (WithObjects), and Invoke
//     returns an ObjectsResponse as JSON; without it they get an error wrapping ErrUnsupportedEvent, as do
//     other AWS event shapes;
//   - anything else is a direct invocation whose payload is one CloudEvent or a JSON array of them:
//     Invoke passes it to Ingest and returns the Response as JSON.
//
// For a direct invocation a body refused as a whole is returned as an error (it becomes the Lambda
// function error) wrapping the event package's sentinel; invalid events and events the stream did not
// take are reported in the Response.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if inv, ok := probe(payload); ok {
		if inv.isAPIGatewayV2() {
			resp, err := h.HandleAPIGateway(ctx, inv.APIGatewayV2HTTPRequest)
			if err != nil {
				return nil, err
			}
			return segjson.Marshal(resp)
		}
		if out, ok, err := h.invokeObjects(ctx, inv); ok {
			return out, err
		}
		if err := inv.unsupported(); err != nil {
			return nil, fmt.Errorf("ingest: invoke: %w", err)
		}
	}
	status, resp, err := h.Ingest(ctx, "", "", payload)
	if err != nil {
		return nil, fmt.Errorf("ingest: direct invocation refused (status %d): %w", status, err)
	}
	return segjson.Marshal(resp)
}

// probe decodes the fields that tell AWS event shapes apart, from a well-formed JSON object of modest depth
// only: the decoder recurses, and AWS's event shapes nest a few levels. Anything else is left to Ingest,
// which rejects it with a reason.
func probe(payload []byte) (*invocation, bool) {
	p := trimLeadingSpace(payload)
	if len(p) == 0 || p[0] != '{' {
		return nil, false
	}
	if d, err := event.Depth(p); err != nil || d > maxProbeDepth {
		return nil, false
	}
	inv := new(invocation)
	if _, err := segjson.Parse(p, inv, segjson.DontMatchCaseInsensitiveStructFields); err != nil {
		return nil, false
	}
	return inv, true
}

// maxProbeDepth bounds the nesting of a payload whose shape Invoke probes.
const maxProbeDepth = 64

// isAPIGatewayV2 reports whether the payload is an API Gateway HTTP API event in payload format 2.0.
func (inv *invocation) isAPIGatewayV2() bool {
	rc := &inv.RequestContext
	return rc.HTTP.Method != "" || (inv.Version == "2.0" && (rc.RequestID != "" || rc.APIID != ""))
}

// unsupported returns an error wrapping ErrUnsupportedEvent when the payload is an AWS event that Invoke
// does not handle, and nil when it is none (so it may be a direct invocation).
func (inv *invocation) unsupported() error {
	const s3Hint = "; send the events to POST /v1/events or invoke the function with a JSON array of CloudEvents"
	switch {
	case inv.Resume != nil:
		return fmt.Errorf("%w: a request to continue s3://%s/%s, but the S3 path is off", ErrUnsupportedEvent,
			inv.Resume.Bucket, inv.Resume.Key)
	case len(inv.Records) > 0:
		r := inv.Records[0]
		if r.EventSource == "aws:s3" {
			return fmt.Errorf("%w: S3 ingest is not available yet (%s of s3://%s/%s and %d more records)%s",
				ErrUnsupportedEvent, r.EventName, r.S3.Bucket.Name, r.S3.Object.Key, len(inv.Records)-1, s3Hint)
		}
		src := r.EventSource
		if src == "" {
			src = "a notification with Records"
		}
		return fmt.Errorf("%w: %s events are not handled by ingest", ErrUnsupportedEvent, src)
	case inv.DetailType != "":
		if inv.Source == "aws.s3" {
			return fmt.Errorf("%w: S3 ingest is not available yet (EventBridge %q of s3://%s/%s)%s",
				ErrUnsupportedEvent, inv.DetailType, inv.Detail.Bucket.Name, inv.Detail.Object.Key, s3Hint)
		}
		return fmt.Errorf("%w: EventBridge %q events from %q are not handled by ingest",
			ErrUnsupportedEvent, inv.DetailType, inv.Source)
	case inv.HTTPMethod != "":
		return fmt.Errorf("%w: API Gateway payload format 1.0 (%s %s) is not handled; use an HTTP API with payload format 2.0",
			ErrUnsupportedEvent, inv.HTTPMethod, inv.Path)
	}
	return nil
}

// trimLeadingSpace returns b without its leading JSON white space.
func trimLeadingSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
