package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// buildSDP compiles the sdp binary once for the process tests.
var buildSDP = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sdp-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sdp")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

var listenLine = regexp.MustCompile(`ingest API\s+POST (http://127\.0\.0\.1:\d+)/v1/events`)

// upProcess is `sdp up` running as a child process.
type upProcess struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
	done   chan error
}

// startUp starts `sdp up` on a free loopback port over dataDir and waits until it says where it listens.
func startUp(t *testing.T, dataDir string) *upProcess {
	t.Helper()
	bin, err := buildSDP()
	if err != nil {
		t.Fatal(err)
	}
	p := &upProcess{stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "up", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn")
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	select {
	case p.base = <-found:
	case err := <-p.done:
		t.Fatalf("sdp up exited before it was ready: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("sdp up did not say where it listens within 30s\n%s", p.stderr)
	}
	eventually(t, 10*time.Second, "sdp up answers", func() bool {
		resp, err := http.Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Logf("sdp up serving %v after the process started", time.Since(started).Round(time.Millisecond))
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// TestCrashRecovery kills `sdp up` with SIGKILL while clients send, restarts it on the same data directory,
// and checks that every event acknowledged before the kill is curated exactly once.
func TestCrashRecovery(t *testing.T) {
	dataDir := t.TempDir()
	up := startUp(t, dataDir)

	var mu sync.Mutex
	acked := map[string]bool{}
	var sent int
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for b := 0; ctx.Err() == nil && b < 400; b++ {
				var body bytes.Buffer
				var ids []string
				body.WriteByte('[')
				for i := range 50 {
					id := fmt.Sprintf("crash-%d-%d-%d", w, b, i)
					ids = append(ids, id)
					if i > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"specversion":"1.0","id":%q,"source":"urn:test:crash","type":"sensor_reading","time":"2026-11-26T10:%02d:00Z","subject":"dev-%d","data":{"device_id":"dev-%d","metric":"co2","value":%d,"unit":"ppm"}}`,
						id, b%60, i%17, i%17, 400+i)
				}
				body.WriteByte(']')
				mu.Lock()
				sent += len(ids)
				mu.Unlock()
				resp, err := client.Post(up.base+"/v1/events", event.ContentTypeBatch, &body)
				if err != nil {
					return // the server was killed: these events were not acknowledged
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("POST answered %d: %s", resp.StatusCode, b)
					return
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				mu.Unlock()
			}
		})
	}
	// Kill once a good number of events have been acknowledged, while the clients are still sending.
	eventually(t, 60*time.Second, "2,000 events acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	if err := up.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-up.done
	stop()
	wg.Wait()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()

	up = startUp(t, dataDir)
	var status struct{ Curated int }
	eventually(t, 60*time.Second, "every acknowledged event curated after the restart", func() bool {
		getJSON(t, up.base+"/v1/status", &status)
		return status.Curated >= nAcked
	})
	for id := range acked {
		var item struct{ ID string }
		if code := getJSON(t, up.base+"/v1/events/"+id, &item); code != http.StatusOK || item.ID != id {
			t.Fatalf("acknowledged event %s: GET answered %d", id, code)
		}
	}
	// Exactly once: the aggregates count each curated event once, and nothing beyond what was sent exists.
	var agg struct{ Windows []analytics.Window }
	var counted int64
	eventually(t, 10*time.Second, "aggregates caught up with the curated table", func() bool {
		getJSON(t, up.base+"/v1/status", &status)
		getJSON(t, up.base+"/v1/aggregates?source=urn:test:crash", &agg)
		counted = 0
		for _, w := range agg.Windows {
			counted += w.Count + w.Late
		}
		return counted == int64(status.Curated)
	})
	if status.Curated > sent {
		t.Fatalf("%d events curated but only %d were sent", status.Curated, sent)
	}
	t.Logf("killed with %d events acknowledged (%d sent); after the restart %d curated and %d counted in aggregates",
		nAcked, sent, status.Curated, counted)

	// A graceful stop drains and exits 0.
	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-up.done:
		if err != nil {
			t.Fatalf("sdp up exited with %v after SIGTERM\n%s", err, up.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sdp up did not stop within 30s of SIGTERM")
	}
}
