package telemetry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Besides expfmt (expfmt_test.go), the Prometheus output is checked with a strict line parser of the text
// format 0.0.4 written for these tests, which also sees the order of the lines. It rejects lines that are not HELP,
// TYPE or well-formed samples, samples of a family without a TYPE, and malformed label escapes.

// promSample is one parsed sample line.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// promFamily is one parsed metric family.
type promFamily struct {
	help, typ string
	samples   []promSample
}

func parsePrometheus(t *testing.T, r io.Reader) map[string]*promFamily {
	t.Helper()
	fams := map[string]*promFamily{}
	family := func(sample string) *promFamily {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if f, ok := fams[strings.TrimSuffix(sample, suffix)]; ok && strings.HasSuffix(sample, suffix) {
				return f
			}
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			fams[name] = &promFamily{help: help}
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			f, ok := fams[name]
			if !ok || (typ != "counter" && typ != "histogram") {
				t.Fatalf("TYPE line %q without HELP or with an unknown type", line)
			}
			f.typ = typ
		default:
			s, err := parseSample(line)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			f := family(s.name)
			if f == nil || f.typ == "" {
				t.Fatalf("sample %q has no family", line)
			}
			f.samples = append(f.samples, s)
		}
	}
	return fams
}

func parseSample(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.name = line[:i]
	for _, c := range s.name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return s, fmt.Errorf("bad name %q", s.name)
		}
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for rest[0] != '}' {
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label in %q", rest)
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' {
					switch rest[0] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c", rest[0])
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			s.labels[name] = v.String()
			rest = strings.TrimPrefix(rest, ",")
		}
		rest = rest[1:]
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(rest, " "), 64)
	if err != nil {
		return s, fmt.Errorf("bad value: %w", err)
	}
	s.value = v
	return s, nil
}

// find returns the value of the sample with that name and exactly those labels.
func (f *promFamily) find(name string, labels map[string]string) (float64, bool) {
	for _, s := range f.samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func TestWritePrometheus(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	p := NewPipeline(r)
	p.EventsAccepted.Add(3, "ingest")
	p.EventsAccepted.Add(2, "ingest")
	p.EventsRejected.Add(1, "ingest", ReasonInvalid)
	p.EventsRejected.Add(1, "ingest", `we"ird\va`+"\nlue")
	for _, v := range []float64{0.5, 1, 7, 120, 99999} {
		p.EndToEndLatency.Observe(v, "persist")
	}
	noDims := r.Counter("Plain", "No dimensions.", Count)
	noDims.Add(4)

	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parsePrometheus(t, bytes.NewReader(buf.Bytes()))

	counters := []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{"accepted total", "sdp_events_accepted_total", map[string]string{"function": "ingest"}, 5},
		{"rejected invalid", "sdp_events_rejected_total", map[string]string{"function": "ingest", "reason": "invalid"}, 1},
		{"escaped label", "sdp_events_rejected_total", map[string]string{"function": "ingest", "reason": `we"ird\va` + "\nlue"}, 1},
		{"no dims", "sdp_plain_total", map[string]string{}, 4},
	}
	for _, c := range counters {
		f := fams[c.family]
		if f == nil || f.typ != "counter" {
			t.Fatalf("%s: family %s missing or not a counter:\n%s", c.name, c.family, buf.String())
		}
		got, ok := f.find(c.family, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s: got %v (found %v), want %v", c.name, got, ok, c.want)
		}
	}

	h := fams["sdp_end_to_end_latency"]
	if h == nil || h.typ != "histogram" || h.help == "" {
		t.Fatalf("histogram family missing:\n%s", buf.String())
	}
	buckets := map[string]float64{"1": 2, "2": 2, "5": 2, "10": 3, "100": 3, "250": 4, "60000": 4, "+Inf": 5}
	for le, want := range buckets {
		got, ok := h.find("sdp_end_to_end_latency_bucket", map[string]string{"function": "persist", "le": le})
		if !ok || got != want {
			t.Errorf("bucket le=%s: got %v (found %v), want %v", le, got, ok, want)
		}
	}
	var les []float64
	for _, s := range h.samples {
		if s.name == "sdp_end_to_end_latency_bucket" {
			v, _ := strconv.ParseFloat(s.labels["le"], 64)
			les = append(les, v)
		}
	}
	if len(les) != len(LatencyBuckets())+1 || !sort.Float64sAreSorted(les) {
		t.Errorf("buckets %v not all present in ascending order", les)
	}
	if got, _ := h.find("sdp_end_to_end_latency_sum", map[string]string{"function": "persist"}); got != 0.5+1+7+120+99999 {
		t.Errorf("sum = %v", got)
	}
	if got, _ := h.find("sdp_end_to_end_latency_count", map[string]string{"function": "persist"}); got != 5 {
		t.Errorf("count = %v", got)
	}
	if f := fams["sdp_dlq_writes_total"]; f == nil || len(f.samples) != 0 {
		t.Errorf("declared metric without series should have HELP/TYPE only")
	}
}

func TestSnakeCase(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"EventsAccepted", "events_accepted"},
		{"DLQWrites", "dlq_writes"},
		{"EndToEndLatency", "end_to_end_latency"},
		{"Function", "function"},
		{"already_snake", "already_snake"},
		{"with-dash", "with_dash"},
		{"HTTP2Requests", "http2_requests"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			if got := snakeCase(c.in); got != c.want {
				t.Errorf("snakeCase(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestPrometheusHandler(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	r.Counter("Hits", "Hits.", Count).Add(1)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	cases := []struct {
		name     string
		method   string
		status   int
		wantBody bool
	}{
		{"get", http.MethodGet, http.StatusOK, true},
		{"head", http.MethodHead, http.StatusOK, false},
		{"post", http.MethodPost, http.StatusMethodNotAllowed, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(c.method, srv.URL+"/metrics", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == http.StatusOK && resp.Header.Get("Content-Type") != prometheusContentType {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if got := strings.Contains(string(body), "sdp_hits_total 1"); got != c.wantBody {
				t.Errorf("body has sample = %v, want %v: %q", got, c.wantBody, body)
			}
		})
	}
}

func TestRegistryRedeclare(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	c := r.Counter("X", "x", Count, "Function")
	if r.Counter("X", "x", Count, "Function") != c {
		t.Fatal("redeclaring returned a new counter")
	}
	p1, p2 := NewPipeline(r), NewPipeline(r)
	if p1.Curated != p2.Curated || p1.BatchSize != p2.BatchSize {
		t.Fatal("NewPipeline twice on one registry declared new metrics")
	}
	cases := []struct {
		name string
		f    func()
	}{
		{"other dims", func() { r.Counter("X", "x", Count, "Reason") }},
		{"other kind", func() { r.Histogram("X", "x", Count, nil, "Function") }},
		{"wrong value count", func() { c.Add(1) }},
		{"too many values", func() { c.Add(1, "a", "b") }},
		{"ten dimensions", func() { r.Counter("Y", "y", Count, "A", "B", "C", "D", "E", "F", "G", "H", "I", "J") }},
		{"reserved dimension", func() { r.Histogram("Z", "z", Count, nil, "_aws") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

func TestConcurrentAddObserve(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	p := NewPipeline(r)
	const workers, n = 8, 500
	var wg sync.WaitGroup
	var emf bytes.Buffer
	var emfMu sync.Mutex
	for w := range workers {
		wg.Go(func() {
			fn := fmt.Sprintf("f%d", w%2)
			for range n {
				p.EventsAccepted.Add(1, fn)
				p.BatchSize.Observe(10, fn)
			}
		})
	}
	// Flushes and scrapes run during the updates.
	wg.Go(func() {
		for range 20 {
			emfMu.Lock()
			_ = r.FlushEMF(&emf, time.Now())
			emfMu.Unlock()
			_ = r.WritePrometheus(io.Discard)
		}
	})
	wg.Wait()
	_ = r.FlushEMF(&emf, time.Now())

	var buf bytes.Buffer
	_ = r.WritePrometheus(&buf)
	fams := parsePrometheus(t, &buf)
	var total, count float64
	for _, fn := range []string{"f0", "f1"} {
		v, _ := fams["sdp_events_accepted_total"].find("sdp_events_accepted_total", map[string]string{"function": fn})
		total += v
		c, _ := fams["sdp_batch_size"].find("sdp_batch_size_count", map[string]string{"function": fn})
		count += c
	}
	if total != workers*n || count != workers*n {
		t.Fatalf("total %v, count %v, want %d", total, count, workers*n)
	}
	// Every increment and observation reaches EMF exactly once across the flushes.
	sums := sumEMF(t, emf.Bytes())
	if sums["EventsAccepted"] != workers*n || sums["BatchSize#"] != workers*n {
		t.Fatalf("EMF totals %v, want %d each", sums, workers*n)
	}
}

func BenchmarkCounterAdd(b *testing.B) {
	r := NewRegistry("sdp")
	c := r.Counter("EventsRejected", "x", Count, "Function", "Reason")
	c.Add(1, "ingest", "invalid")
	b.ReportAllocs()
	for b.Loop() {
		c.Add(1, "ingest", "invalid")
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	r := NewRegistry("sdp")
	h := r.Histogram("Latency", "x", Milliseconds, LatencyBuckets(), "Function")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Observe(float64(i%1000), "persist")
		i++
		if i%maxPendingEMF == 0 {
			_ = r.FlushEMF(io.Discard, time.Time{})
		}
	}
}

func TestCounterAddDoesNotAllocate(t *testing.T) {
	r := NewRegistry("sdp")
	c := r.Counter("EventsRejected", "x", Count, "Function", "Reason")
	c.Add(1, "ingest", "invalid")
	if n := testing.AllocsPerRun(1000, func() { c.Add(1, "ingest", "invalid") }); n != 0 {
		t.Fatalf("Add allocates %v times per call", n)
	}
}
