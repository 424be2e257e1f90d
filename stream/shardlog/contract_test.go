package shardlog_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/stream/shardlog"
	"github.com/serverless-data-platform/sdp/stream/streamtest"
)

// newContractStream opens a Log of three shards on a fresh database.
func newContractStream(t *testing.T) streamtest.Stream {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	l, err := shardlog.Open(db, shardlog.Options{StreamName: "contract", Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	return streamtest.Stream{Producer: l, Reader: l, Shards: 3}
}

func TestProducerContract(t *testing.T) { streamtest.RunProducer(t, newContractStream) }

func TestReaderContract(t *testing.T) { streamtest.RunReader(t, newContractStream) }
