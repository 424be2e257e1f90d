package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// refusingIngester fails the test that calls it: FuzzInvoke's store is empty, so no object may be read.
type refusingIngester struct{ t *testing.T }

func (g *refusingIngester) Ingest(_ context.Context, _ objects.Store, key string, _ ObjectProgress, _ time.Time) (ObjectResult, error) {
	g.t.Errorf("object %q ingested from an empty store", key)
	return ObjectResult{}, errors.New("refused")
}

// FuzzInvoke checks the Lambda payload decoding of Invoke, with the S3 path off and on (over an empty
// folder): no payload panics it; an API Gateway event is answered with an HTTP response; an S3 or EventBridge
// event is answered with one outcome per object it names (all skipped: none exists), or refused with
// ErrUnsupportedEvent; a direct invocation is answered with a Response; and no object outside the store is
// ever read.
func FuzzInvoke(f *testing.F) {
	for _, name := range []string{"apigw-v2-post-events.json", "eventbridge-s3-object-created.json", "s3-object-created.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"sdpResume":{"bucket":"b","key":"k"}}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%2Fb+c"}}}]}`))
	f.Add([]byte(`{"httpMethod":"GET","path":"/"}`))
	f.Add([]byte(`{"version":"2.0","requestContext":{"requestId":"r"},"body":"e30=","isBase64Encoded":true}`))
	f.Add([]byte(pageView("ev-1", "")))
	f.Add([]byte(`[` + pageView("ev-2", "") + `,{}]`))
	store := objects.NewFolder(f.TempDir())
	stores := func(string) (objects.Store, error) { return store, nil }
	ing := &refusingIngester{}
	plain := newHandler(f, &fakeProducer{})
	withObjects := newHandler(f, &fakeProducer{}, WithObjects(stores, ing))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ing.t = t
		ctx := context.Background()
		inv, probed := probe(payload)
		var refs []objectRef
		var isObject, isAPI bool
		var refErr error
		if probed {
			isAPI = inv.isAPIGatewayV2()
			if !isAPI {
				refs, isObject, refErr = inv.objectRefs()
			}
		}
		for _, h := range []*Handler{plain, withObjects} {
			out, err := h.Invoke(ctx, payload)
			switch {
			case isAPI:
				var resp events.APIGatewayV2HTTPResponse
				if err != nil {
					t.Fatalf("API Gateway event refused: %v", err)
				}
				if err := segjson.Unmarshal(out, &resp); err != nil || resp.StatusCode < 200 || resp.StatusCode > 599 {
					t.Fatalf("API Gateway answer %s: %v", out, err)
				}
			case isObject && (h == plain || refErr != nil):
				if !errors.Is(err, ErrUnsupportedEvent) {
					t.Fatalf("object event answered %s, %v; want ErrUnsupportedEvent", out, err)
				}
			case isObject:
				if err != nil {
					// An event that names no bucket or key is refused as a whole.
					continue
				}
				var resp ObjectsResponse
				if err := segjson.Unmarshal(out, &resp); err != nil || len(resp.Objects) != len(refs) {
					t.Fatalf("answer %s (%v) for %d objects", out, err, len(refs))
				}
				for i, o := range resp.Objects {
					// The answer's JSON replaces invalid UTF-8, so only valid names are compared.
					named := !utf8.ValidString(refs[i].bucket+refs[i].key) || o.Bucket == refs[i].bucket && o.Key == refs[i].key
					if o.Status != StatusSkipped || !named {
						t.Fatalf("object %d: %+v; the event names s3://%s/%s, which does not exist", i, o, refs[i].bucket, refs[i].key)
					}
				}
			case err == nil:
				var resp Response
				if err := segjson.Unmarshal(out, &resp); err != nil || resp.Rejected != len(resp.Errors) {
					t.Fatalf("direct invocation answered %s: %v", out, err)
				}
			}
		}
	})
}
