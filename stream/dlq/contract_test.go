package dlq_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/dlqtest"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestLocalContract runs the queue's contract suite on the local queue, on a fake clock, with a second queue
// of the same database as the destination of move tasks.
func TestLocalContract(t *testing.T) {
	t.Parallel()
	dlqtest.Run(t, func(t *testing.T) dlqtest.Env {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		clock := &fakeClock{now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
		q, err := dlq.OpenLocal(db, "sdp-dlq", dlq.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		dest, err := dlq.OpenLocal(db, "sdp-source", dlq.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		return dlqtest.Env{Queue: q, Advance: clock.Advance, Destination: dest}
	})
}
