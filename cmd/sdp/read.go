package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
)

// eventCmd prints one curated event, as the read API holds it.
type eventCmd struct {
	ID string `arg:"" help:"The event's id."`
}

// aggregatesCmd prints the aggregate windows that match.
type aggregatesCmd struct {
	Type   string `help:"Only this event type."`
	Source string `help:"Only this source."`
	By     string `enum:"source,type" default:"source" help:"source: one window per type and source; type: the sources of each type merged."`
	From   string `default:"-1h" help:"Windows from this time: RFC 3339, or relative to now (-15m)."`
	To     string `help:"Windows before this time: RFC 3339, or relative to now."`
}

// statusCmd prints the local stack's progress: per shard the records held and the consumer's progress.
type statusCmd struct{}

// Run fetches GET /v1/events/{id} and prints the item as JSON (the table form of one item is its JSON).
func (c *eventCmd) Run(g *globals) error {
	body, err := readAPI(g, "/v1/events/"+url.PathEscape(c.ID))
	if err != nil {
		return err
	}
	var item json.RawMessage = body
	out, err := json.MarshalIndent(item, "", "  ")
	if err != nil {
		return fmt.Errorf("the read API answered something that is not JSON: %w", err)
	}
	fmt.Fprintln(g.stdout, string(out))
	return nil
}

// Run fetches GET /v1/aggregates and prints the windows, oldest first.
func (c *aggregatesCmd) Run(g *globals) error {
	q := url.Values{}
	for k, v := range map[string]string{"type": c.Type, "source": c.Source, "from": c.From, "to": c.To, "by": c.By} {
		if v != "" {
			q.Set(k, v)
		}
	}
	body, err := readAPI(g, "/v1/aggregates?"+q.Encode())
	if err != nil {
		return err
	}
	var ans struct {
		Windows []analytics.Window `json:"windows"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("the read API answered something unexpected: %w", err)
	}
	if g.Output == "json" {
		return printJSON(g.stdout, ans)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WINDOW\tTYPE\tSOURCE\tCOUNT\tLATE\tUNIQUES\tMEASURES (mean p50 p99)")
	for _, w := range ans.Windows {
		var names []string
		for m := range w.Measures {
			names = append(names, m)
		}
		sort.Strings(names)
		var ms []string
		for _, m := range names {
			if st := w.Measures[m]; st.Count > 0 {
				ms = append(ms, fmt.Sprintf("%s=%.6g/%.6g/%.6g", m, st.Sum/float64(st.Count), st.P50, st.P99))
			}
		}
		src := w.Source
		if src == "" {
			src = "(all)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", w.Start.UTC().Format(time.RFC3339), w.Type, src, w.Count, w.Late,
			w.UniqueSubjects, strings.Join(ms, " "))
	}
	return tw.Flush()
}

// Run fetches GET /v1/status and prints it.
func (c *statusCmd) Run(g *globals) error {
	body, err := readAPI(g, "/v1/status")
	if err != nil {
		return err
	}
	var st struct {
		UptimeSeconds int  `json:"uptimeSeconds"`
		Curated       *int `json:"curated"`
		DLQDepth      int  `json:"dlqDepth"`
		Stream        []struct {
			ShardID string `json:"shardId"`
			Records uint64 `json:"records"`
		} `json:"stream"`
		Mapping []struct {
			ShardID             string `json:"shardId"`
			Checkpoint          string `json:"checkpoint"`
			RecordsProcessed    int64  `json:"recordsProcessed"`
			Invocations         int64  `json:"invocations"`
			FailedInvocations   int64  `json:"failedInvocations"`
			DeadLetteredRecords int64  `json:"deadLetteredRecords"`
			IteratorAgeMs       int64  `json:"iteratorAgeMs"`
		} `json:"mapping"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("the read API answered something unexpected: %w", err)
	}
	if g.Output == "json" {
		return printJSON(g.stdout, st)
	}
	curated := "curated count not kept (AWS backend)"
	if st.Curated != nil {
		curated = fmt.Sprintf("%d events curated", *st.Curated)
	}
	fmt.Fprintf(g.stdout, "up %ds; %s; DLQ depth %d\n", st.UptimeSeconds, curated, st.DLQDepth)
	records := map[string]uint64{}
	for _, s := range st.Stream {
		records[s.ShardID] = s.Records
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tRECORDS\tPROCESSED\tINVOCATIONS\tFAILED\tDEAD-LETTERED\tITERATOR AGE\tCHECKPOINT")
	for _, m := range st.Mapping {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%dms\t%s\n", m.ShardID, records[m.ShardID], m.RecordsProcessed,
			m.Invocations, m.FailedInvocations, m.DeadLetteredRecords, m.IteratorAgeMs, m.Checkpoint)
	}
	return tw.Flush()
}

// readAPI GETs a path of the read API and returns the body of a 200 answer; any other answer is an error
// that carries the API's message.
func readAPI(g *globals, path string) ([]byte, error) {
	return callAPI(g, http.MethodGet, path, 30*time.Second)
}

// callAPI sends a request without a body to a path of the local stack's API and returns the body of a 200
// answer; any other answer is an error that carries the API's message.
func callAPI(g *globals, method, path string, timeout time.Duration) ([]byte, error) {
	u := strings.TrimSuffix(g.EndpointURL, "/") + path
	req, err := http.NewRequestWithContext(g.ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.httpClient(timeout).Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the API at %s: %w (is `sdp up` running? set --endpoint-url)", g.EndpointURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, e.Message)
		}
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	return body, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
