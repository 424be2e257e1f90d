package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// sampleIDs returns the ids of the events in events/sample.json.
func sampleIDs() []string {
	return []string{
		"9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0001", "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0002",
		"9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0003", "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0004",
		"9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0005",
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiRequest is an HTTP API (payload 2.0) request for POST /v1/events with the given headers and body.
func apiRequest(method string, headers map[string]string, body string, base64Encoded bool) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/events", RawPath: "/v1/events", Headers: headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			APIID: "a1b2c3d4e5", RequestID: "Bq3VbhlKliAEMzw=", Stage: "$default", RouteKey: "POST /v1/events",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/v1/events", Protocol: "HTTP/1.1"},
		},
		Body: body, IsBase64Encoded: base64Encoded,
	}
}

// TestHandleAPIGateway checks the API Gateway HTTP API entry point: plain and base64 gzip bodies, lower-case
// headers, statuses and answer headers.
func TestHandleAPIGateway(t *testing.T) {
	t.Parallel()
	a, b := valid("ev-a"), valid("ev-bb")
	bad := strings.Replace(pageView("ev-bad", ""), `"specversion":"1.0"`, `"specversion":"0.3"`, 1)
	tests := []struct {
		name       string
		req        events.APIGatewayV2HTTPRequest
		put        func(int, []event.Record) ([]event.PutResult, error)
		wantStatus int
		wantHeader map[string]string
		wantBody   string
		wantTaken  []string
	}{
		// API Gateway passes a JSON body as text; one invalid event makes it a 207.
		{
			name: "plain body",
			req: apiRequest("POST", map[string]string{"content-type": event.ContentTypeBatch},
				string(batch(a, bad, b)), false),
			wantStatus: 207, wantTaken: []string{"ev-a", "ev-bb"},
			wantBody: `{"accepted":2,"rejected":1,"errors":[{"index":1,"id":"ev-bad","reason":"/specversion: `,
		},
		// A gzip body arrives base64-encoded, with isBase64Encoded set.
		{
			name: "base64 gzip body",
			req: apiRequest("POST", map[string]string{"content-type": event.ContentTypeNDJSON, "content-encoding": "gzip"},
				base64.StdEncoding.EncodeToString(gzipped(t, ndjson(a, b), 0)), true),
			wantStatus: 202, wantTaken: []string{"ev-a", "ev-bb"}, wantBody: `{"accepted":2,"rejected":0,"errors":[]}`,
		},
		// Payload 2.0 lower-cases header names; other spellings are still found.
		{
			name:       "mixed-case header keys",
			req:        apiRequest("POST", map[string]string{"Content-Type": "text/plain"}, string(batch(a)), false),
			wantStatus: 415, wantBody: `"error":"unsupported content type`,
		},
		{
			name: "bad base64", req: apiRequest("POST", nil, "not base64!", true),
			wantStatus: 400, wantBody: "not valid base64",
		},
		{
			name: "throttled", req: apiRequest("POST", nil, string(batch(a, b)), false),
			put:        refuse(event.ErrCodeThroughputExceeded, "ev-a", "ev-bb"),
			wantStatus: 429, wantHeader: map[string]string{"Retry-After": "1"}, wantBody: `"retryable":true`,
		},
		{
			name: "GET", req: apiRequest("GET", nil, "", false),
			wantStatus: 405, wantHeader: map[string]string{"Allow": "POST"}, wantBody: "method GET is not allowed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProducer{put: tc.put}
			res, err := newHandler(t, p).HandleAPIGateway(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("HandleAPIGateway: %v", err)
			}
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (%s)", res.StatusCode, tc.wantStatus, res.Body)
			}
			if res.Headers["Content-Type"] != "application/json" {
				t.Errorf("headers = %v, want Content-Type application/json", res.Headers)
			}
			for k, v := range tc.wantHeader {
				if res.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, res.Headers[k], v)
				}
			}
			if !strings.Contains(res.Body, tc.wantBody) {
				t.Errorf("body %s does not contain %s", res.Body, tc.wantBody)
			}
			if got := p.takenIDs(); !slices.Equal(got, tc.wantTaken) {
				t.Errorf("the stream took %q, want %q", got, tc.wantTaken)
			}
		})
	}
}

// TestInvoke checks that the Lambda entry point tells payload shapes apart: direct invocations (an array
// or one event), API Gateway HTTP API events, and the S3 and other AWS events it does not handle.
func TestInvoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		// wantResponse is the direct invocation's answer; wantStatus the API Gateway response's status.
		wantResponse *Response
		wantStatus   int
		wantErr      error
		wantErrText  string
		wantTaken    []string
	}{
		// What the README passes to aws lambda invoke.
		{
			name: "direct array: events/sample.json", payload: readFile(t, "../events/sample.json"),
			wantResponse: &Response{Accepted: 5, Errors: []ItemError{}}, wantTaken: sampleIDs(),
		},
		{
			name: "direct single event", payload: []byte("\n " + valid("ev-a")),
			wantResponse: &Response{Accepted: 1, Errors: []ItemError{}}, wantTaken: []string{"ev-a"},
		},
		{
			name: "direct array with an invalid event", payload: batch(valid("ev-a"), `{"specversion":"1.0"}`),
			wantResponse: &Response{Accepted: 1, Rejected: 1, Errors: []ItemError{
				{Index: 1, Reason: "/type: missing property 'type' (required)"}}},
			wantTaken: []string{"ev-a"},
		},
		// The captured shape of an HTTP API (payload 2.0) event for POST /v1/events.
		{
			name: "API Gateway HTTP API event", payload: readFile(t, "testdata/apigw-v2-post-events.json"),
			wantStatus: 202, wantTaken: sampleIDs(),
		},
		// S3 backfill comes later: the function says so instead of rejecting the payload as an event.
		{
			name: "S3 event notification", payload: readFile(t, "testdata/s3-object-created.json"),
			wantErr: ErrUnsupportedEvent, wantErrText: "S3 ingest is not available yet (ObjectCreated:Put of s3://sdp-raw-events/backfill/",
		},
		// The same object notification, delivered by EventBridge.
		{
			name: "EventBridge Object Created", payload: readFile(t, "testdata/eventbridge-s3-object-created.json"),
			wantErr: ErrUnsupportedEvent, wantErrText: "S3 ingest is not available yet (EventBridge \"Object Created\" of s3://sdp-raw-events/",
		},
		{
			name: "SQS event", payload: []byte(`{"Records":[{"messageId":"m1","eventSource":"aws:sqs","body":"{}"}]}`),
			wantErr: ErrUnsupportedEvent, wantErrText: "aws:sqs events are not handled",
		},
		{
			name:    "API Gateway payload 1.0",
			payload: []byte(`{"resource":"/v1/events","path":"/v1/events","httpMethod":"POST","requestContext":{"requestId":"r1"},"body":"[]"}`),
			wantErr: ErrUnsupportedEvent, wantErrText: "payload format 1.0 (POST /v1/events)",
		},
		// A direct invocation's body-level problem is a function error.
		{
			name: "direct empty array", payload: []byte("[]"),
			wantErr: event.ErrMalformed, wantErrText: "status 400",
		},
		// A payload too deep to probe is not decoded recursively: Ingest rejects it as one malformed event.
		{
			name: "direct nesting bomb", payload: []byte(`{"a":` + strings.Repeat("[", 200000)),
			wantResponse: &Response{Rejected: 1, Errors: []ItemError{
				{Index: 0, Reason: "(event): malformed JSON: unexpected end of input (json)"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProducer{}
			out, err := newHandler(t, p).Invoke(context.Background(), tc.payload)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("Invoke error = %v, want one wrapping %v and containing %q", err, tc.wantErr, tc.wantErrText)
				}
				if len(p.calls) != 0 {
					t.Errorf("the stream was called %d times for a refused payload", len(p.calls))
				}
				return
			}
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if tc.wantResponse != nil {
				var got Response
				if err := segjson.Unmarshal(out, &got); err != nil {
					t.Fatalf("answer %s: %v", out, err)
				}
				if got.Accepted != tc.wantResponse.Accepted || got.Rejected != tc.wantResponse.Rejected ||
					!slices.Equal(got.Errors, tc.wantResponse.Errors) {
					t.Errorf("answer = %s, want %+v", out, *tc.wantResponse)
				}
			} else {
				var got events.APIGatewayV2HTTPResponse
				if err := segjson.Unmarshal(out, &got); err != nil {
					t.Fatalf("answer %s: %v", out, err)
				}
				if got.StatusCode != tc.wantStatus || got.Headers["Content-Type"] != "application/json" {
					t.Errorf("answer = %s, want status %d with a JSON body", out, tc.wantStatus)
				}
				var resp Response
				if err := segjson.Unmarshal([]byte(got.Body), &resp); err != nil || resp.Accepted != len(tc.wantTaken) {
					t.Errorf("body %s: %v, want %d accepted", got.Body, err, len(tc.wantTaken))
				}
			}
			if got := p.takenIDs(); !slices.Equal(got, tc.wantTaken) {
				t.Errorf("the stream took %q, want %q", got, tc.wantTaken)
			}
		})
	}
}
