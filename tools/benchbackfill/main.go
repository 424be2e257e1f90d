// Command benchbackfill measures `sdp backfill` on one large object: it writes a gzip NDJSON object of
// -size MB (uncompressed) with 1% invalid lines, starts `sdp up` on a fresh data directory, backfills the
// object under /usr/bin/time -v, waits until every valid event is curated, backfills again to check that
// the manifest makes the second run send nothing, and prints the peak memory of both processes.
//
//	go run ./tools/benchbackfill -sdp bin/sdp -size 200
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/serverless-data-platform/sdp/loadtest"
)

// config is the command line.
type config struct {
	sdp     string
	sizeMB  int
	wait    time.Duration
	maxRSS  int // MB, the acceptance bound of sdp backfill
	maxUp   int // MB, the acceptance bound of sdp up
	workDir string
}

// main parses the flags and runs the measurement; a failed bound or check exits 1.
func main() {
	var c config
	flag.StringVar(&c.sdp, "sdp", "bin/sdp", "the sdp binary (make build)")
	flag.IntVar(&c.sizeMB, "size", 200, "uncompressed size of the object in MB")
	flag.DurationVar(&c.wait, "wait", 20*time.Minute, "how long to wait for every event to be curated")
	flag.IntVar(&c.maxRSS, "max-backfill-rss", 150, "peak RSS of sdp backfill above which the run fails, MB")
	flag.IntVar(&c.maxUp, "max-up-rss", 300, "peak RSS of sdp up above which the run fails, MB")
	flag.StringVar(&c.workDir, "dir", "", "working directory (default: a new temporary one, removed after)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchbackfill:", err)
		os.Exit(1)
	}
}

// run does the whole measurement.
func run(ctx context.Context, c config) error {
	dir := c.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "benchbackfill-")
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	src := filepath.Join(dir, "objects")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("objects folder: %w", err)
	}
	t0 := time.Now()
	gen, err := generate(filepath.Join(src, "history.ndjson.gz"), int64(c.sizeMB)<<20)
	if err != nil {
		return err
	}
	fmt.Printf("object: %d events (%d valid, %d invalid), %.1f MB uncompressed, %.1f MB gzip, written in %v\n",
		gen.events, gen.valid, gen.events-gen.valid, float64(gen.raw)/(1<<20), float64(gen.compressed)/(1<<20), time.Since(t0).Round(time.Millisecond))

	// A fresh data directory: the curated count then starts at zero and counts this object's events only.
	up, err := startUp(ctx, c.sdp, filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer up.stop()

	manifest := filepath.Join(dir, "manifest.jsonl")
	first, err := backfill(ctx, c.sdp, up.base, manifest, src)
	if err != nil {
		return err
	}
	fmt.Printf("backfill: %d events, %d accepted, %d rejected in %.1fs (%.0f events/s), peak RSS %d MB\n",
		first.sum.Events, first.sum.Accepted, first.sum.Rejected, first.sum.DurationSeconds, first.sum.EventsPerSecond, first.rssKB>>10)

	// The backfill returns once the API took the events; the pipeline curates them after. sdp up's peak is
	// read once it has curated everything, before the second run and before it stops.
	t1 := time.Now()
	if err := waitCurated(ctx, up.base, gen.valid, gen.sample, c.wait); err != nil {
		return err
	}
	fmt.Printf("curated: all %d valid events, %v after the backfill ended\n", gen.valid, time.Since(t1).Round(time.Second))
	upRSS, err := peakRSS(up.cmd.Process.Pid)
	if err != nil {
		return err
	}
	// VmHWM counts file-backed pages too (the data directory's memory-mapped files): show the split now.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", up.cmd.Process.Pid)); err == nil {
		for line := range strings.Lines(string(st)) {
			if strings.HasPrefix(line, "RssAnon:") || strings.HasPrefix(line, "RssFile:") {
				fmt.Print("sdp up now: " + strings.Join(strings.Fields(line), " ") + "\n")
			}
		}
	}

	// The same command again: the manifest lists the object with its ETag, so nothing is read or sent.
	second, err := backfill(ctx, c.sdp, up.base, manifest, src)
	if err != nil {
		return err
	}
	fmt.Printf("rerun: %d objects skipped, %d done, %d events sent\n", second.sum.Objects.Skipped, second.sum.Objects.Done, second.sum.Accepted)
	fmt.Printf("peak RSS: sdp backfill %d MB (bound %d), sdp up %d MB (bound %d)\n", first.rssKB>>10, c.maxRSS, upRSS>>10, c.maxUp)

	// Every check is reported, not only the first that fails.
	var fails []string
	if first.sum.Accepted != int64(gen.valid) || first.sum.Rejected != int64(gen.events-gen.valid) {
		fails = append(fails, fmt.Sprintf("accepted %d, rejected %d; want %d and %d", first.sum.Accepted, first.sum.Rejected, gen.valid, gen.events-gen.valid))
	}
	if second.sum.Objects.Skipped != 1 || second.sum.Events != 0 || second.sum.Accepted != 0 {
		fails = append(fails, fmt.Sprintf("the rerun was not a no-op: %+v", second.sum))
	}
	if first.rssKB>>10 >= int64(c.maxRSS) {
		fails = append(fails, fmt.Sprintf("sdp backfill peaked at %d MB", first.rssKB>>10))
	}
	if upRSS>>10 >= int64(c.maxUp) {
		fails = append(fails, fmt.Sprintf("sdp up peaked at %d MB", upRSS>>10))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	fmt.Println("PASS")
	return nil
}

// generated describes the object written.
type generated struct {
	events, valid   int
	raw, compressed int64
	// sample holds the ids of some valid events, to read back.
	sample []string
}

// generate writes a gzip NDJSON object of about size uncompressed bytes, 1% of whose events are invalid.
func generate(name string, size int64) (generated, error) {
	var g generated
	gen, err := loadtest.NewGenerator(loadtest.GenConfig{Seed: uint64(time.Now().UnixNano()), InvalidRatio: 0.01})
	if err != nil {
		return g, fmt.Errorf("generator: %w", err)
	}
	f, err := os.Create(name)
	if err != nil {
		return g, fmt.Errorf("object: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	stamp := time.Now().UTC().Truncate(time.Second)
	// The generator's events come 1000 at a time; each is written as one NDJSON line, so that the object
	// has as many lines as events and the invalid ones are the generator's InvalidRatio.
	for seq := uint64(0); g.raw < size; seq++ {
		recs, infos := gen.Records(seq, 1000, stamp)
		for i, r := range recs {
			zw.Write(r.Data)
			zw.Write([]byte{'\n'})
			g.raw += int64(len(r.Data)) + 1
			g.events++
			if !infos[i].Invalid {
				g.valid++
				if g.valid%5000 == 1 {
					g.sample = append(g.sample, infos[i].ID)
				}
			}
		}
	}
	if err := zw.Close(); err != nil {
		return g, fmt.Errorf("object: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return g, fmt.Errorf("object: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return g, fmt.Errorf("object: %w", err)
	}
	g.compressed = fi.Size()
	return g, nil
}

// upProcess is a running sdp up.
type upProcess struct {
	base string
	cmd  *exec.Cmd
	done chan error
}

// stop interrupts sdp up and waits for it to drain.
func (u *upProcess) stop() {
	u.cmd.Process.Signal(os.Interrupt)
	select {
	case <-u.done:
	case <-time.After(60 * time.Second):
		u.cmd.Process.Kill()
		<-u.done
	}
}

// startUp starts sdp up on a fresh data directory and a free loopback port, and waits until it answers.
func startUp(ctx context.Context, sdp, dataDir string) (*upProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Not bound to ctx: stop interrupts it, so that it drains and checkpoints as a user's Ctrl-C would.
	cmd := exec.Command(sdp, "up", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s up: %w (run make build first)", sdp, err)
	}
	u := &upProcess{base: "http://" + addr, cmd: cmd, done: make(chan error, 1)}
	go func() { u.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(u.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u, nil
			}
		}
		select {
		case err := <-u.done:
			return nil, fmt.Errorf("sdp up exited: %v: %s", err, logs.String())
		case <-ctx.Done():
			u.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			u.stop()
			return nil, errors.New("sdp up did not answer /healthz within 30s")
		}
	}
}

// backfillRun is one run of sdp backfill: its summary and peak RSS in kB.
type backfillRun struct {
	sum struct {
		Objects struct {
			Done, Skipped, Failed int
		}
		Events, Accepted, Rejected int64
		DurationSeconds            float64
		EventsPerSecond            float64
	}
	rssKB int64
}

// maxRSSLine is the line of /usr/bin/time -v with the peak RSS.
var maxRSSLine = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// backfill runs sdp backfill under /usr/bin/time -v.
func backfill(ctx context.Context, sdp, base, manifest, src string) (backfillRun, error) {
	var r backfillRun
	cmd := exec.CommandContext(ctx, "/usr/bin/time", "-v", sdp, "backfill", "--endpoint-url", base, "--output", "json",
		"--manifest", manifest, "--progress-every", "30s", src)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("sdp backfill: %w: %s %s", err, out.String(), errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), &r.sum); err != nil {
		return r, fmt.Errorf("sdp backfill summary: %w: %s", err, out.String())
	}
	m := maxRSSLine.FindSubmatch(errOut.Bytes())
	if m == nil {
		return r, fmt.Errorf("no peak RSS in the output of /usr/bin/time: %s", errOut.String())
	}
	r.rssKB, _ = strconv.ParseInt(string(m[1]), 10, 64)
	return r, nil
}

// peakRSS reads a process's peak RSS (VmHWM) in kB.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of sdp up: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// waitCurated polls the status until the curated count reaches want, then reads the sample ids back.
func waitCurated(ctx context.Context, base string, want int, sample []string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	last := -1
	for {
		var st struct {
			Curated  *int `json:"curated"`
			DLQDepth int  `json:"dlqDepth"`
		}
		if err := getJSON(base+"/v1/status", &st); err != nil {
			return err
		}
		if st.Curated != nil && *st.Curated >= want {
			break
		}
		if st.Curated != nil && *st.Curated != last {
			last = *st.Curated
			fmt.Fprintf(os.Stderr, "curated %d of %d (DLQ %d)\n", last, want, st.DLQDepth)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events curated within %v", last, want, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	// The count could be reached by other events only if the data directory were reused; the sample read
	// back proves the object's own events were curated.
	for _, id := range sample {
		resp, err := http.Get(base + "/v1/events/" + id)
		if err != nil {
			return fmt.Errorf("reading event %s: %w", id, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("event %s: %s", id, resp.Status)
		}
	}
	return nil
}

// getJSON fetches a URL and decodes its JSON answer into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
