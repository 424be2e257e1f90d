package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/infrastructure"
	"github.com/serverless-data-platform/sdp/stream/esm"
)

// TestTemplateDrivesLocalMode checks that local mode runs what the template says: with the consumer's
// BatchSize default changed in template.yaml, the local event source mapping delivers batches of that size,
// and with the template as it is, larger ones.
func TestTemplateDrivesLocalMode(t *testing.T) {
	batchSize := regexp.MustCompile(`(?m)(ConsumerBatchSize:\n\s+Type: Number\n\s+Default: )\d+`)
	if !batchSize.Match(infrastructure.Template) {
		t.Fatal("template.yaml has no ConsumerBatchSize parameter with a Default")
	}
	tests := []struct {
		name     string
		template []byte
		check    func(largest int) error
	}{
		{"BatchSize 7 in the template", batchSize.ReplaceAll(infrastructure.Template, []byte("${1}7")), func(largest int) error {
			if largest != 7 {
				return fmt.Errorf("largest batch %d, want the template's 7", largest)
			}
			return nil
		}},
		{"the template as it is", infrastructure.Template, func(largest int) error {
			if largest <= 7 {
				return fmt.Errorf("largest batch %d, want more than 7 with the template's BatchSize", largest)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			largest, delivered := 0, 0
			observe := func(next esm.Function) esm.Function {
				return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
					mu.Lock()
					largest = max(largest, len(ev.Records))
					delivered += len(ev.Records)
					mu.Unlock()
					return next(ctx, ev)
				}
			}
			base, _ := startStack(t, stackConfig{Shards: 1, Template: tc.template, Observe: observe})
			var body bytes.Buffer
			body.WriteByte('[')
			for i := range 60 {
				if i > 0 {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"specversion":"1.0","id":"b-%d","source":"urn:test:template","type":"page_view","time":"2026-11-26T09:15:00Z",`+
					`"subject":"v-%d","data":{"url":"https://shop.example.com/","session_id":"s","country":"DE","duration_ms":1,"scroll_depth":0.5}}`, i, i)
			}
			body.WriteByte(']')
			if code, r := postEvents(t, base, event.ContentTypeBatch, body.Bytes()); code != http.StatusAccepted || r.Accepted != 60 {
				t.Fatalf("POST: %d, %+v", code, r)
			}
			eventually(t, 30*time.Second, "every record delivered", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return delivered >= 60
			})
			mu.Lock()
			defer mu.Unlock()
			if err := tc.check(largest); err != nil {
				t.Error(err)
			}
		})
	}
}
