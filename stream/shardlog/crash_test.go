package shardlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// crashDirEnv tells the test binary to run as the crash test's writer, with its database in that directory.
const crashDirEnv = "SHARDLOG_CRASH_DIR"

// crashOptions are the stream options of the crash test, in parent and child.
var crashOptions = Options{StreamName: "crash", Shards: 4}

// TestCrashWriter is the child of TestCrashKill: it writes batches from several goroutines forever and prints
// "ack <shardID> <sequenceNumber> <data>" for each record once PutRecords has returned. It is skipped unless
// the parent started it.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashKill only")
	}
	db, err := bolt.Open(filepath.Join(dir, "sdp.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	db.MaxBatchDelay = time.Millisecond
	l, err := Open(db, crashOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Four writers keep several calls in flight, so acknowledgements come from shared transactions.
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				recs := make([]event.Record, 8)
				for i := range recs {
					id := fmt.Sprintf("w%d-b%d-r%d", w, b, i)
					recs[i] = event.Record{PartitionKey: id, Data: []byte("payload-" + id)}
				}
				res, err := l.PutRecords(context.Background(), recs)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				var sb strings.Builder
				for i, r := range res {
					fmt.Fprintf(&sb, "ack %s %s %s\n", r.ShardID, r.SequenceNumber, recs[i].Data)
				}
				// One write per batch, below the pipe's atomic write size, so a kill never splits a line.
				out.Lock()
				_, _ = os.Stdout.WriteString(sb.String())
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashKill kills a writing process with SIGKILL and checks that every record it had acknowledged is in
// the reopened database, with its data.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	// Every acknowledged record the child reported, in the order it reported them.
	type ack struct{ shard, seq, data string }
	var acks []ack
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		acks = append(acks, ack{f[1], f[2], f[3]})
		if !killed && len(acks) >= 2000 {
			// Keep reading afterwards: lines already written were acknowledged before the kill.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the writer stopped after %d acknowledgements: %s", len(acks), stderr.String())
	}

	// The killed process left the file as a crash would; bbolt recovers from its last committed meta page.
	db, err := bolt.Open(filepath.Join(dir, "sdp.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := Open(db, crashOptions)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	for _, a := range acks {
		recs, err := l.Read(context.Background(), a.shard, Position{Type: AtSequenceNumber, SequenceNumber: a.seq}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].SequenceNumber != a.seq || string(recs[0].Data) != a.data {
			t.Fatalf("acknowledged record %s/%s (%s) is lost: read %v", a.shard, a.seq, a.data, recs)
		}
		if CompareSequence(a.seq, last[a.shard]) > 0 {
			last[a.shard] = a.seq
		}
	}
	// Sequence numbers keep growing after the crash on every shard: 40 keys reach all four.
	after := mustPut(t, l, records("after-crash-", 40))
	for _, r := range after {
		if CompareSequence(r.SequenceNumber, last[r.ShardID]) <= 0 {
			t.Errorf("shard %s: sequence %s after the crash does not follow acknowledged %s", r.ShardID, r.SequenceNumber, last[r.ShardID])
		}
	}
	t.Logf("%d acknowledged records checked after SIGKILL", len(acks))
}
