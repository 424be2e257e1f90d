package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/dashboard"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/loadtest"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
)

// chromiumPath is Debian's chromium, which the browser test drives.
const chromiumPath = "/usr/bin/chromium"

// requireChromium returns the path of chromium; without it the test fails under make test
// (SDP_REQUIRE_NPM_TOOLS=1) and is skipped otherwise.
func requireChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := "chromium is not at " + chromiumPath + " (make test installs the Debian package chromium)"
		if os.Getenv("SDP_REQUIRE_NPM_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; install it or run make test")
	}
	return chromiumPath
}

// artifactsDir returns the directory for test artifacts, $SDP_ARTIFACTS or bin/artifacts at the repository
// root, creating it.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SDP_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	return dir
}

// newBrowser starts a headless chromium with a fresh profile and returns its context; it is closed when
// the test ends.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		// A laptop screen.
		chromedp.WindowSize(1366, 768),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The browser must be gone before its profile directory is removed: cleanups run last registered first.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	start, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	// The first action starts the browser, on ctx (an action with a deadline would close it at the deadline).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	if err := start.Err(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// pageFigures is what the dashboard page shows, read from its data attributes.
type pageFigures struct {
	Feed string `json:"feed"`
	// Metrics holds the data-value of each data-metric element but the rejects.
	Metrics map[string]string `json:"metrics"`
	// Rejects is the list of rejected events by reason.
	Rejects map[string]int64 `json:"rejects"`
	// Windows are the rows of the windows table.
	Windows []pageWindow `json:"windows"`
	// Canvases counts the charts drawn.
	Canvases int `json:"canvases"`
}

// pageWindow is one row of the windows table: a window of one event type.
type pageWindow struct {
	Start   string `json:"start"`
	Type    string `json:"type"`
	Count   int64  `json:"count"`
	Uniques int64  `json:"uniques"`
	Late    int64  `json:"late"`
	Closed  bool   `json:"closed"`
}

// readPage collects the page's figures.
const readPage = `(() => {
  const metrics = {}, rejects = {}, windows = [];
  for (const el of document.querySelectorAll('[data-metric]')) {
    if (el.dataset.metric === 'rejectedBy') rejects[el.dataset.reason] = Number(el.dataset.value);
    else metrics[el.dataset.metric] = el.dataset.value ?? '';
  }
  for (const tr of document.querySelectorAll('#windows tr[data-window]')) {
    const f = {};
    for (const td of tr.querySelectorAll('td[data-field]')) f[td.dataset.field] = td.dataset.value;
    windows.push({ start: tr.dataset.window, type: tr.dataset.type, count: Number(f.count), uniques: Number(f.uniques),
      late: Number(f.late), closed: f.closed === 'true' });
  }
  return { feed: document.body.dataset.feed, metrics, rejects, windows, canvases: document.querySelectorAll('canvas').length };
})()`

// figures reads the page's figures.
func figures(t *testing.T, ctx context.Context) pageFigures {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFigures](readPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return f
}

// metric returns the page's figure name as a number; ok is false when it shows none.
func (f pageFigures) metric(name string) (float64, bool) {
	v, err := strconv.ParseFloat(f.Metrics[name], 64)
	return v, err == nil
}

// posted tallies what the test posted, from the ingest answers and the generator's description of each event.
type posted struct {
	mu sync.Mutex
	// accepted counts the events ingest accepted; healthy and poison split them.
	accepted, healthy, poison int64
	// rules counts the rejected events by the rule their reason names.
	rules map[string]int64
}

// post sends one generated batch and tallies the answer.
func (p *posted) post(base string, gen *loadtest.Generator, seq uint64) error {
	body, infos := gen.Batch(seq, 50, time.Now())
	resp, err := http.Post(base+"/v1/events", event.ContentTypeBatch, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r ingest.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("decoding the answer (%s): %w", resp.Status, err)
	}
	invalid := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, info := range infos {
		switch {
		case info.Invalid:
			invalid++
		case info.Poison:
			p.poison++
		default:
			p.healthy++
		}
	}
	if r.Rejected != invalid || r.Accepted != len(infos)-invalid {
		return fmt.Errorf("batch %d: %d accepted and %d rejected, want %d and %d", seq, r.Accepted, r.Rejected, len(infos)-invalid, invalid)
	}
	p.accepted += int64(r.Accepted)
	for _, e := range r.Errors {
		// A reason ends with its rule: "<pointer>: <message> (<rule>)".
		i := strings.LastIndex(e.Reason, " (")
		if i < 0 || !strings.HasSuffix(e.Reason, ")") {
			return fmt.Errorf("reason %q names no rule", e.Reason)
		}
		p.rules[e.Reason[i+2:len(e.Reason)-1]]++
	}
	return nil
}

// TestDashboardInBrowser drives the dashboard in chromium while events flow: it loads the page, sees the
// ingest rate move through the stream of snapshots, then, once the pipeline has settled, checks that the
// figures on the page are those of the read API and of what was posted, saves a screenshot, and checks
// the polling fallback.
func TestDashboardInBrowser(t *testing.T) {
	chromium := requireChromium(t)
	quick := func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 2 * time.Millisecond, Max: 10 * time.Millisecond}
		c.MaximumRetryAttempts = 1
		c.MaxBatchingWindow = 0
	}
	rule := workflow.Rule{Name: "poison", Pointer: "/subject", Prefix: loadtest.DefaultPoisonPrefix}
	base, _, _ := runStack(t, stackConfig{Rules: []workflow.Rule{rule}, Mapping: quick})
	gen, err := loadtest.NewGenerator(loadtest.GenConfig{Seed: 11, Keys: 200, InvalidRatio: 0.08, PoisonRatio: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, chromium)
	// The page must run without an uncaught exception or an error in the console (a refused script or
	// style, a failed request).
	var consoleMu sync.Mutex
	var consoleErrors []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				consoleMu.Lock()
				consoleErrors = append(consoleErrors, fmt.Sprintf("%s at %s:%d:%d", m, m.URL, m.Line, m.Column))
				consoleMu.Unlock()
			}
		}
	}()

	// The page opens on an idle pipeline and takes the stream.
	loaded := time.Now()
	nav, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nav, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	eventually(t, 30*time.Second, "the page on the snapshot stream", func() bool {
		f := figures(t, ctx)
		_, ok := f.metric("dlqDepth")
		return f.Feed == "sse" && ok
	})
	t.Logf("page live %v after navigation", time.Since(loaded).Round(time.Millisecond))

	// Events flow for 4 s: a batch of 50 every 100 ms, some invalid, some poison. The page must show a rate
	// meanwhile.
	tally := &posted{rules: map[string]int64{}}
	stopPosting := make(chan struct{})
	postingDone := make(chan struct{})
	// A test that fails early stops the posting and waits for it.
	t.Cleanup(func() {
		select {
		case <-stopPosting:
		default:
			close(stopPosting)
		}
		<-postingDone
	})
	go func() {
		defer close(postingDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for seq := range uint64(40) {
			select {
			case <-stopPosting:
				return
			case <-tick.C:
			}
			if err := tally.post(base, gen, seq); err != nil {
				t.Errorf("posting: %v", err)
				return
			}
		}
	}()
	var liveRate float64
	eventually(t, 20*time.Second, "a positive ingest rate and windows on the page", func() bool {
		f := figures(t, ctx)
		liveRate, _ = f.metric("ingestRate")
		return liveRate > 0 && len(f.Windows) > 0
	})
	<-postingDone
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("posted %d events accepted (%d healthy, %d poison), %d rejected; the page showed %.0f events/s while posting",
		tally.accepted, tally.healthy, tally.poison, sum(tally.rules), liveRate)

	// The pipeline settles: every healthy event curated, the poison ones dead-lettered, no lag.
	eventually(t, 2*time.Minute, "the pipeline settled", func() bool {
		var st struct {
			Curated  int
			DLQDepth int
			Mapping  []struct{ IteratorAgeMs int64 }
		}
		if getJSON(t, base+"/v1/status", &st) != http.StatusOK {
			return false
		}
		for _, m := range st.Mapping {
			if m.IteratorAgeMs != 0 {
				return false
			}
		}
		return int64(st.Curated) == tally.healthy && (tally.poison == 0 || st.DLQDepth > 0)
	})

	// The page shows what the read API says, and what was posted. The page lags the API by up to one
	// snapshot, so the comparison is repeated until it holds.
	var mismatches []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		mismatches = compareDashboard(t, figures(t, ctx), base, tally)
		if len(mismatches) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(mismatches) > 0 {
		t.Fatalf("the page and the read API disagree:\n%s", strings.Join(mismatches, "\n"))
	}

	consoleMu.Lock()
	if len(consoleErrors) > 0 {
		t.Errorf("the page's console:\n%s", strings.Join(consoleErrors, "\n"))
	}
	consoleMu.Unlock()

	// A screenshot of the whole page, for people.
	shotCtx, cancelShot := context.WithTimeout(ctx, 30*time.Second)
	defer cancelShot()
	png, err := chromedp.Run(shotCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(artifactsDir(t), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// Without the stream, the page polls and shows the same.
	nav, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nav, chromedp.Navigate(base+"/?feed=poll")); err != nil {
		t.Fatalf("opening the dashboard with polling: %v", err)
	}
	eventually(t, 30*time.Second, "the polling page shows the curated count", func() bool {
		f := figures(t, ctx)
		n, ok := f.metric("curated")
		return f.Feed == "poll" && ok && int64(n) == tally.healthy
	})
}

// compareDashboard returns how the page's figures differ from the read API's (GET /v1/dashboard,
// /v1/status and /v1/aggregates) and from what was posted.
func compareDashboard(t *testing.T, page pageFigures, base string, tally *posted) []string {
	t.Helper()
	var snap dashboard.Snapshot
	var status struct {
		Curated  *int `json:"curated"`
		DLQDepth int  `json:"dlqDepth"`
	}
	if getJSON(t, base+"/v1/dashboard", &snap) != http.StatusOK || getJSON(t, base+"/v1/status", &status) != http.StatusOK {
		t.Fatal("the read API did not answer")
	}
	var agg struct{ Windows []analytics.Window }
	if getJSON(t, base+"/v1/aggregates?by=type&from="+snap.Aggregates.From.Format(time.RFC3339Nano), &agg) != http.StatusOK {
		t.Fatal("GET /v1/aggregates did not answer")
	}
	var out []string
	check := func(what string, got any, want ...any) {
		for _, w := range want {
			if fmt.Sprint(got) != fmt.Sprint(w) {
				out = append(out, fmt.Sprintf("%s: the page shows %v, want %v", what, got, want))
				return
			}
		}
	}
	num := func(name string) any {
		if v, ok := page.metric(name); ok {
			return v
		}
		return "none"
	}
	if status.Curated == nil || snap.Curated == nil || snap.DLQDepth == nil {
		t.Fatalf("the read API leaves out the curated count or the DLQ depth: %+v %+v", status, snap)
	}
	check("feed", page.Feed, "sse")
	check("curated", num("curated"), float64(*status.Curated), float64(*snap.Curated), float64(tally.healthy))
	check("dlqDepth", num("dlqDepth"), float64(status.DLQDepth), float64(*snap.DLQDepth))
	check("accepted", num("accepted"), float64(snap.Ingest.Accepted), float64(tally.accepted))
	check("rejected", num("rejected"), float64(snap.Ingest.Rejected), float64(sum(tally.rules)))
	check("consumerLagMs", num("consumerLagMs"), float64(snap.Consumer.LagMs), 0.0)
	if snap.Workflow.P99Ms != nil {
		check("workflowP99Ms", num("workflowP99Ms"), *snap.Workflow.P99Ms)
		check("workflowP50Ms", num("workflowP50Ms"), *snap.Workflow.P50Ms)
	} else {
		out = append(out, "the read API has no workflow latency after the pipeline ran")
	}
	if !maps.Equal(page.Rejects, snap.Ingest.RejectedBy) || !maps.Equal(page.Rejects, tally.rules) {
		out = append(out, fmt.Sprintf("rejects by reason: the page shows %v, the API %v, the ingest answers %v",
			page.Rejects, snap.Ingest.RejectedBy, tally.rules))
	}
	if page.Canvases < 4 {
		out = append(out, fmt.Sprintf("%d charts drawn, want 4", page.Canvases))
	}

	// Each window of each type: the page's row against the type's window in /v1/aggregates?by=type (its
	// sources merged).
	type key struct{ start, typ string }
	want := map[key]pageWindow{}
	for _, w := range agg.Windows {
		k := key{w.Start.UTC().Format(time.RFC3339), w.Type}
		pw, ok := want[k]
		if !ok {
			pw = pageWindow{Start: k.start, Type: w.Type, Closed: true}
		}
		pw.Count += w.Count
		pw.Uniques += w.UniqueSubjects
		pw.Late += w.Late
		pw.Closed = pw.Closed && w.Closed
		want[k] = pw
	}
	var total int64
	seen := map[key]bool{}
	for _, pw := range page.Windows {
		start, err := time.Parse(time.RFC3339, pw.Start)
		if err != nil {
			out = append(out, fmt.Sprintf("window %q: %v", pw.Start, err))
			continue
		}
		k := key{start.UTC().Format(time.RFC3339), pw.Type}
		seen[k] = true
		total += pw.Count
		if w, ok := want[k]; !ok || w.Count != pw.Count || w.Uniques != pw.Uniques || w.Late != pw.Late || w.Closed != pw.Closed {
			out = append(out, fmt.Sprintf("window %s %s: the page shows %+v, /v1/aggregates %+v", k.start, k.typ, pw, w))
		}
	}
	for k := range want {
		if !seen[k] {
			out = append(out, fmt.Sprintf("window %s %s is in /v1/aggregates, not on the page", k.start, k.typ))
		}
	}
	// Poison events fail enrichment before analytics: the windows count the healthy events.
	if total != tally.healthy {
		out = append(out, fmt.Sprintf("the windows on the page count %d events, want the %d healthy ones", total, tally.healthy))
	}
	return out
}

// sum adds up the values of m.
func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
