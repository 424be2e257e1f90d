package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
)

// sendCmd posts files of events to an ingest API, in bodies within the API's limits, and retries the events
// the stream pushed back (429/503) after the Retry-After the API asks for.
type sendCmd struct {
	Files       []string      `arg:"" type:"existingfile" help:"Files of events: a JSON array or one event (.json), NDJSON (.ndjson, .jsonl), optionally gzip (.gz)."`
	ContentType string        `help:"Content type to send, overriding the one chosen by file extension."`
	MaxEvents   int           `default:"500" help:"Events per request."`
	MaxRetries  int           `default:"8" help:"Retries of events the stream pushed back (429/503) before giving up."`
	Timeout     time.Duration `default:"30s" help:"Timeout of one request."`
}

// sendSummary is what `sdp send` reports, per file and in total.
type sendSummary struct {
	File     string             `json:"file"`
	Accepted int                `json:"accepted"`
	Rejected int                `json:"rejected"`
	Errors   []ingest.ItemError `json:"errors"`
}

// Run sends every file in turn and prints a summary per file (a table, or JSON with --output json). It fails
// when a file cannot be read or split, when the API cannot be reached, or when any event was rejected, so a
// script can tell a partial success from a full one.
func (c *sendCmd) Run(g *globals) error {
	client := g.httpClient(c.Timeout)
	url := strings.TrimSuffix(g.EndpointURL, "/") + "/v1/events"
	var all []sendSummary
	failed := false
	for _, f := range c.Files {
		s, err := c.sendFile(g.ctx, client, url, f, g.stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, s)
		failed = failed || s.Rejected > 0
	}
	if g.Output == "json" {
		out := any(all)
		if len(all) == 1 {
			out = all[0]
		}
		if err := printJSON(g.stdout, out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tACCEPTED\tREJECTED")
		for _, s := range all {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", s.File, s.Accepted, s.Rejected)
		}
		tw.Flush()
		for _, s := range all {
			for _, e := range s.Errors {
				fmt.Fprintf(g.stdout, "%s: event %d (id %q): %s\n", s.File, e.Index, e.ID, e.Reason)
			}
		}
	}
	if failed {
		fmt.Fprintln(g.stderr, "sdp send: some events were rejected; fix them (see the reasons above) and send those again")
		return errReported
	}
	return nil
}

// sendFile splits one file into request bodies and posts them, keeping indexes relative to the file.
func (c *sendCmd) sendFile(ctx context.Context, client *http.Client, url, path string, progress io.Writer) (sendSummary, error) {
	sum := sendSummary{File: path, Errors: []ingest.ItemError{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return sum, err
	}
	// A .gz file is decompressed here and sent plain: the API's limits apply to what it receives, and the
	// file is cut into requests by events, not bytes.
	name := path
	if strings.HasSuffix(name, ".gz") {
		if b, err = event.Decode("gzip", b, 1<<30); err != nil {
			return sum, err
		}
		name = strings.TrimSuffix(name, ".gz")
	}
	format := event.FormatAuto
	switch ct := c.ContentType; {
	case ct != "":
		if format, err = event.ParseFormat(ct); err != nil {
			return sum, err
		}
	case filepath.Ext(name) == ".ndjson" || filepath.Ext(name) == ".jsonl":
		format = event.FormatNDJSON
	}
	var raws [][]byte
	err = event.Split(format, b, event.Limits{MaxEvents: 1 << 30, MaxEventBytes: 1 << 30}, func(_ int, raw []byte, _ error) {
		raws = append(raws, raw) // the API judges each event; this only cuts the file into requests
	})
	if err != nil {
		return sum, fmt.Errorf("cannot split the file into events: %w", err)
	}
	// Requests of at most MaxEvents events and 5 MiB, below the API's 6 MiB body limit; an event larger than
	// that goes alone, and the API judges it.
	maxEvents := max(1, c.MaxEvents)
	const maxBody = 5 << 20
	for start := 0; start < len(raws); {
		end, size := start, 2
		for end < len(raws) && end-start < maxEvents && (end == start || size+len(raws[end])+1 <= maxBody) {
			size += len(raws[end]) + 1
			end++
		}
		if err := c.sendChunk(ctx, client, url, raws, start, end, &sum); err != nil {
			return sum, err
		}
		if len(raws) > maxEvents {
			fmt.Fprintf(progress, "%s: %d/%d events sent (%d accepted, %d rejected)\n", path, end, len(raws), sum.Accepted, sum.Rejected)
		}
		start = end
	}
	return sum, nil
}

// sendChunk posts raws[start:end] as one JSON array and retries the retryable events until none remain.
func (c *sendCmd) sendChunk(ctx context.Context, client *http.Client, url string, raws [][]byte, start, end int, sum *sendSummary) error {
	pending := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		pending = append(pending, i)
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		var body bytes.Buffer
		body.WriteByte('[')
		for k, i := range pending {
			if k > 0 {
				body.WriteByte(',')
			}
			body.Write(raws[i])
		}
		body.WriteByte(']')
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", event.ContentTypeBatch)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("cannot reach the ingest API at %s: %w (is `sdp up` running? set --endpoint-url)", url, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		// Every answer that lists per-event outcomes (202, 207, 400, 429, 503) is read the same way; a body
		// refused as a whole (413, 415) or an answer that is not ingest's is an error for the whole file.
		var ans ingest.Response
		if err := json.Unmarshal(data, &ans); err != nil || resp.StatusCode == http.StatusRequestEntityTooLarge ||
			resp.StatusCode == http.StatusUnsupportedMediaType {
			return fmt.Errorf("the ingest API answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		var retry []int
		// An answer of the server rather than of ingest (401 without the API key, 503 over its bound of
		// concurrent requests) lists no outcomes: it is an error for the whole file, but for a 503, which is
		// retried as a whole.
		if refusedWhole(resp.StatusCode, ans) {
			if resp.StatusCode != http.StatusServiceUnavailable || attempt >= c.MaxRetries {
				return fmt.Errorf("the ingest API answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
			}
			retry = pending
		}
		sum.Accepted += ans.Accepted
		for _, e := range ans.Errors {
			if e.Index < 0 || e.Index >= len(pending) {
				return fmt.Errorf("the ingest API answered with an event index %d out of range", e.Index)
			}
			if e.Retryable && attempt < c.MaxRetries {
				retry = append(retry, pending[e.Index])
				continue
			}
			e.Index = pending[e.Index]
			sum.Rejected++
			sum.Errors = append(sum.Errors, e)
		}
		// The events the stream pushed back were not acknowledged: send just those again after Retry-After.
		pending = retry
		if len(pending) > 0 {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), fmt.Errorf("%d events were not sent", len(pending)))
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// refusedWhole reports whether an answer of the ingest API is the server's refusal of the whole request (401
// without the API key, 503 over sdp up's bound of concurrent requests) rather than ingest's per-event outcomes:
// an error status that lists none.
func refusedWhole(status int, ans ingest.Response) bool {
	return status >= 400 && ans.Accepted == 0 && len(ans.Errors) == 0
}
