package kinesis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
)

// throttler is an HTTP transport around the real client's that makes Kinesis refuse a fraction of the
// entries of each PutRecords call with ProvisionedThroughputExceededException: it removes them from the
// request before the server sees it and puts failed entries in their places in the server's answer, as
// Kinesis does for a throttled entry (which it does not store).
type throttler struct {
	next     http.RoundTripper
	fraction float64
	// afterRequest, when set, is called with the number of PutRecords requests seen so far.
	afterRequest func(n int)

	mu  sync.Mutex
	rng *rand.Rand
	// sent holds the data of each PutRecords request's entries, as the client sent them.
	sent [][]string
	// refused holds the data of the entries refused in each request.
	refused [][]string
}

// putEntry is an entry of a PutRecords request, as JSON.
type putEntry struct {
	Data            []byte `json:"Data"`
	PartitionKey    string `json:"PartitionKey"`
	ExplicitHashKey string `json:"ExplicitHashKey,omitempty"`
}

func (th *throttler) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
		return th.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	var in map[string]json.RawMessage
	var entries []putEntry
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(in["Records"], &entries); err != nil {
		return nil, err
	}
	th.mu.Lock()
	refuse := make([]bool, len(entries))
	var kept []putEntry
	var sent, refused []string
	for i, e := range entries {
		sent = append(sent, string(e.Data))
		refuse[i] = th.rng.Float64() < th.fraction
		if refuse[i] {
			refused = append(refused, string(e.Data))
		} else {
			kept = append(kept, e)
		}
	}
	th.sent = append(th.sent, sent)
	th.refused = append(th.refused, refused)
	n := len(th.sent)
	th.mu.Unlock()
	if th.afterRequest != nil {
		defer th.afterRequest(n)
	}

	var answer struct {
		FailedRecordCount int               `json:"FailedRecordCount"`
		Records           []json.RawMessage `json:"Records"`
		EncryptionType    string            `json:"EncryptionType,omitempty"`
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, Request: req}
	if len(kept) > 0 {
		in["Records"], _ = json.Marshal(kept)
		newBody, _ := json.Marshal(in)
		out := req.Clone(req.Context())
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(newBody)), int64(len(newBody))
		out.Header.Set("Content-Length", strconv.Itoa(len(newBody)))
		if resp, err = th.next.RoundTrip(out); err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			resp.Body = io.NopCloser(bytes.NewReader(raw))
			return resp, nil
		}
		if err := json.Unmarshal(raw, &answer); err != nil {
			return nil, fmt.Errorf("server answer %s: %w", raw, err)
		}
	}
	// Put the refused entries back in their places.
	failed := json.RawMessage(`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard (injected)"}`)
	var merged []json.RawMessage
	k := 0
	for i := range entries {
		if refuse[i] {
			merged = append(merged, failed)
			answer.FailedRecordCount++
			continue
		}
		merged = append(merged, answer.Records[k])
		k++
	}
	answer.Records = merged
	out, _ := json.Marshal(answer)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(out)), int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return resp, nil
}

// TestThrottledEntriesAreResent runs the producer against kinesis-local through the throttler: every record
// is delivered once, each retry carries exactly the entries refused by the request before it, and retries
// stop when ctx ends.
func TestThrottledEntriesAreResent(t *testing.T) {
	s := emulator.Require(t, emulator.KinesisLocal)
	cases := []struct {
		name     string
		fraction float64
		// cancelAfter ends ctx after this many requests (0: never).
		cancelAfter int
	}{
		{name: "a third refused", fraction: 0.33},
		{name: "most refused", fraction: 0.8},
		{name: "ctx ends while every entry is refused", fraction: 1, cancelAfter: 2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			th := &throttler{fraction: c.fraction, rng: rand.New(rand.NewPCG(7, uint64(i)))}
			if c.cancelAfter > 0 {
				th.afterRequest = func(n int) {
					if n == c.cancelAfter {
						cancel()
					}
				}
			}
			client := newClient(t, s, func(next http.RoundTripper) http.RoundTripper { th.next = next; return th })
			plain := newClient(t, s, nil)
			_, arn := newStream(t, plain, 2)
			p, err := kinesis.NewProducer(client, arn, kinesis.WithMaxAttempts(40), kinesis.WithBackoff(time.Millisecond, 20*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			in := make([]event.Record, 40)
			for j := range in {
				in[j] = event.Record{PartitionKey: fmt.Sprint("user-", j%6), Data: fmt.Appendf(nil, "rec-%02d", j)}
			}
			res, err := p.PutRecords(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			th.mu.Lock()
			sent, refused := th.sent, th.refused
			th.mu.Unlock()
			// Each request after the first carries exactly what the one before it had refused.
			for k := 1; k < len(sent); k++ {
				if fmt.Sprint(sent[k]) != fmt.Sprint(refused[k-1]) {
					t.Errorf("request %d sent %v; the one before refused %v", k, sent[k], refused[k-1])
				}
			}
			if len(sent[0]) != len(in) {
				t.Errorf("the first request carried %d entries, want %d", len(sent[0]), len(in))
			}
			if c.cancelAfter > 0 {
				if len(sent) != c.cancelAfter {
					t.Errorf("%d requests; retries must stop when ctx ends after request %d", len(sent), c.cancelAfter)
				}
				for j, r := range res {
					if r.ErrorCode != event.ErrCodeThroughputExceeded || r.SequenceNumber != "" {
						t.Errorf("result %d = %+v; want the throttling code", j, r)
					}
				}
				return
			}
			// Every record was taken, and the stream holds each once.
			for j, r := range res {
				if r.SequenceNumber == "" {
					t.Fatalf("result %d = %+v after %d requests", j, r, len(sent))
				}
			}
			r, _ := kinesis.NewReader(plain, arn)
			seen := map[string]int{}
			for sh := range 2 {
				recs, err := r.ReadAfter(emulator.Context(t), stream.ShardID(sh), "", 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range recs {
					seen[string(rec.Data)]++
				}
			}
			for _, rec := range in {
				if seen[string(rec.Data)] != 1 {
					t.Errorf("record %s is in the stream %d times", rec.Data, seen[string(rec.Data)])
				}
			}
			t.Logf("%d requests carried %v entries", len(sent), func() []int {
				var n []int
				for _, s := range sent {
					n = append(n, len(s))
				}
				return n
			}())
		})
	}
}
