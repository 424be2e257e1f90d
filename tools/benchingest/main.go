// Command benchingest measures how many events per second `sdp up` ingests — validating every event and
// appending it durably to the local stream — against a bare Go HTTP server that only parses the same bodies,
// in the same run, under the same load generator (`sdp loadtest http`) on the same machine.
//
// For each server, -rounds times with the order alternating, it finds the highest request rate (batches of
// -batch events) that the server absorbs with a p99 latency under -p99, no errors, and the achieved rate
// within 2% of the scheduled one: rates grow by -growth while they pass, then a few bisection steps narrow
// the boundary. Every step of `sdp up` starts on a fresh data directory. The medians are compared. It prints
// each step, a summary table, and ends with
//
//	ingest: <events/s> events/s, <r>x a bare parsing server (<events/s> events/s), p99 < 50ms
//
// Usage (make bench-ingest builds bin/sdp first):
//
//	go run ./tools/benchingest -sdp bin/sdp
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// config holds the command's flags.
type config struct {
	sdp        string
	batch      int
	step       time.Duration
	start      float64
	growth     float64
	bisect     int
	p99        time.Duration
	maxWorkers int
	sdpArgs    string
	out        string
	rounds     int
}

func main() {
	var c config
	flag.StringVar(&c.sdp, "sdp", "bin/sdp", "the sdp binary (make build)")
	flag.IntVar(&c.batch, "batch", 100, "events per request")
	flag.DurationVar(&c.step, "step", 8*time.Second, "duration of one load step")
	flag.Float64Var(&c.start, "start", 200, "first request rate tried (requests/s)")
	flag.Float64Var(&c.growth, "growth", 1.3, "factor between rates while they pass")
	flag.IntVar(&c.bisect, "bisect", 3, "bisection steps between the last passing and the first failing rate")
	flag.DurationVar(&c.p99, "p99", 50*time.Millisecond, "latency objective at the 99th percentile")
	flag.IntVar(&c.maxWorkers, "max-workers", 1000, "most concurrent requests of the load generator")
	flag.StringVar(&c.sdpArgs, "sdp-args", "", "extra arguments for sdp up, space-separated")
	flag.StringVar(&c.out, "out", "", "write the results as JSON to this file")
	flag.IntVar(&c.rounds, "rounds", 2, "searches per server, alternating which goes first; the medians are compared")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "benchingest:", err)
		os.Exit(1)
	}
}

// result is one server's best passing step.
type result struct {
	Name      string  `json:"name"`
	Rate      float64 `json:"requestsPerSecond"`
	EventRate float64 `json:"eventsPerSecond"`
	P99Millis float64 `json:"p99Millis"`
	Steps     int     `json:"steps"`
}

func run(ctx context.Context, c config) error {
	if _, err := os.Stat(c.sdp); err != nil {
		return fmt.Errorf("%w (build it with make build, or pass -sdp)", err)
	}
	upStart := func(ctx context.Context) (string, func(), error) { return startUp(ctx, c) }
	var bares, ups []result
	for r := range max(c.rounds, 1) {
		// The order alternates, so that a drift of the machine's speed weighs on both alike.
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, isBare := range order {
			if isBare {
				res, err := find(ctx, c, "bare parsing server", startBare)
				if err != nil {
					return err
				}
				bares = append(bares, res)
			} else {
				res, err := find(ctx, c, "sdp up", upStart)
				if err != nil {
					return err
				}
				ups = append(ups, res)
			}
		}
	}
	bare, up := median(bares), median(ups)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\trequests/s\tevents/s\tp99 ms\tsteps\t")
	for _, r := range append(append(bares, ups...), bare, up) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1f\t%d\t\n", r.Name, r.Rate, r.EventRate, r.P99Millis, r.Steps)
	}
	tw.Flush()
	if c.out != "" {
		b, _ := json.MarshalIndent(map[string]any{"bare": bare, "sdpUp": up, "bareRounds": bares, "sdpUpRounds": ups, "batch": c.batch,
			"p99Objective": c.p99.String()}, "", "  ")
		if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	ratio := 0.0
	if bare.EventRate > 0 {
		ratio = up.EventRate / bare.EventRate
	}
	fmt.Printf("ingest: %s events/s, %.2fx a bare parsing server (%s events/s), p99 < %s\n",
		thousands(up.EventRate), ratio, thousands(bare.EventRate), c.p99)
	return nil
}

// median returns the result with the median event rate (the lower middle one for an even count), named
// "<name> (median of N)".
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.EventRate, b.EventRate) })
	m := sorted[(len(sorted)-1)/2]
	m.Name = fmt.Sprintf("%s (median of %d)", m.Name, len(rs))
	return m
}

// starter starts a server for one step and returns its ingest URL and how to stop it.
type starter func(ctx context.Context) (url string, stop func(), err error)

// find searches the highest passing rate of one server.
func find(ctx context.Context, c config, name string, start starter) (result, error) {
	best := result{Name: name}
	try := func(rate float64) (bool, error) {
		url, stop, err := start(ctx)
		if err != nil {
			return false, err
		}
		defer stop()
		s, err := attack(ctx, c, url, rate)
		if err != nil {
			return false, err
		}
		best.Steps++
		pass := s.Errors == 0 && s.Latency.P99 < c.p99 && s.Rate >= 0.98*rate && !s.Saturated
		verdict := "pass"
		if !pass {
			verdict = "fail"
		}
		fmt.Printf("%-20s %7.0f req/s scheduled: %7.0f req/s, %9.0f events/s, p99 %7.1f ms, errors %d, saturated %v: %s\n",
			name, rate, s.Rate, s.EventRate, float64(s.Latency.P99)/1e6, s.Errors, s.Saturated, verdict)
		if pass && s.EventRate > best.EventRate {
			best.Rate, best.EventRate, best.P99Millis = s.Rate, s.EventRate, float64(s.Latency.P99)/1e6
		}
		return pass, nil
	}
	lo, hi := 0.0, 0.0
	for rate := c.start; ; rate *= c.growth {
		ok, err := try(rate)
		if err != nil {
			return best, err
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
	}
	if lo == 0 {
		return best, fmt.Errorf("%s: even %.0f requests/s fails the objectives; lower -start", name, c.start)
	}
	for range c.bisect {
		mid := (lo + hi) / 2
		ok, err := try(mid)
		if err != nil {
			return best, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return best, nil
}

// summary is the part of sdp loadtest's JSON report the search reads.
type summary struct {
	Rate      float64
	EventRate float64
	Errors    uint64
	Saturated bool
	Latency   struct{ P99 time.Duration }
}

// attack runs one step of sdp loadtest http against url.
func attack(ctx context.Context, c config, url string, rate float64) (summary, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, c.sdp, "loadtest", "http", "--url", url, "--rate", fmt.Sprintf("%.0f", rate),
		"--batch", fmt.Sprint(c.batch), "--duration", c.step.String(), "--max-workers", fmt.Sprint(c.maxWorkers),
		"--seed", fmt.Sprint(time.Now().UnixNano()), "--output", "json")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return summary{}, fmt.Errorf("sdp loadtest: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	var rep struct{ Summary summary }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return summary{}, fmt.Errorf("sdp loadtest output: %w", err)
	}
	return rep.Summary, nil
}

// startBare serves the bare parsing server on a loopback port: it reads each body, splits it into events and
// decodes each event's envelope, and answers 202 — no validation, no stream.
func startBare(context.Context) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(bareIngest), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String() + "/v1/events", stop, nil
}

// bareIngest parses the body's events as typed envelopes and answers with the count.
func bareIngest(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(event.DefaultLimits.MaxBodyBytes)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	n, bad := 0, 0
	format, _ := event.ParseFormat(r.Header.Get("Content-Type"))
	err = event.Split(format, body, event.Limits{}, func(_ int, raw []byte, err error) {
		var ev event.Event
		if err == nil {
			err = segjson.Unmarshal(raw, &ev)
		}
		if err != nil {
			bad++
			return
		}
		n++
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d,"rejected":%d,"errors":[]}`, n, bad)
}

// startUp starts sdp up on a fresh data directory and a free loopback port, and waits until it answers.
func startUp(ctx context.Context, c config) (string, func(), error) {
	dir, err := os.MkdirTemp("", "benchingest-")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"up", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"},
		strings.Fields(c.sdpArgs)...)
	cmd := exec.CommandContext(ctx, c.sdp, args...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base + "/v1/events", stop, nil
			}
		}
		select {
		case err := <-done:
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("sdp up exited: %v: %s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("sdp up did not answer /healthz within 30s")
		}
	}
}

// thousands formats n with thousands separators.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
