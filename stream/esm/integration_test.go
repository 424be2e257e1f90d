package esm

// This integration-style test runs the mapping end to end over durable storage: BoltCheckpoints on a bbolt
// file with a queue that enqueues inside the commit's transaction. It uses only this package's fakes for the
// stream and the queue (it imports no local log), so the package's tests stay independent of the adapters.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// TestIntegrationBolt runs a mapping with two shards, parallelization, bisection and retries over bbolt,
// stops it, reopens the database and checks that a second mapping resumes where the first stopped and that
// only the poison records reached the queue.
func TestIntegrationBolt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		parallel int
	}{
		{name: "sequential", parallel: 1},
		{name: "parallel", parallel: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shards := []string{"shardId-000000000000", "shardId-000000000001"}
			r := waitReader{newMemReader(shards...)}
			seqs := map[string][]string{}
			for _, s := range shards {
				seqs[s] = r.appendN(s, 30)
			}
			poison := map[string]bool{seqs[shards[0]][7]: true, seqs[shards[1]][22]: true}
			var (
				mu   sync.Mutex
				done = map[string]int{} // successful deliveries per sequence number
			)
			fn := func(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				for _, rec := range ev.Records {
					if poison[rec.Kinesis.SequenceNumber] {
						return events.KinesisEventResponse{}, errors.New("poison")
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, rec := range ev.Records {
					done[rec.Kinesis.SequenceNumber]++
				}
				return events.KinesisEventResponse{}, nil
			}
			cfg := testConfig()
			cfg.BatchSize = 4
			cfg.ParallelizationFactor = tt.parallel
			cfg.BisectBatchOnFunctionError = true
			cfg.MaximumRetryAttempts = 1
			path := filepath.Join(t.TempDir(), "sdp.db")

			// caughtUp reports whether every shard's checkpoint is its last record.
			caughtUp := func(cp Checkpoints) func() bool {
				return func() bool {
					for _, s := range shards {
						got, err := cp.Load(context.Background(), CheckpointKey(testStreamARN, "consumer", s))
						if err != nil || got != seqs[s][len(seqs[s])-1] {
							return false
						}
					}
					return true
				}
			}

			db := openDB(t, path)
			cp := NewBoltCheckpoints(db, boltDLQ{})
			runUntil(t, r, fn, cp, cfg, "first run", caughtUp(cp))
			msgs := dlqMessages(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			var got []string
			for _, m := range msgs {
				var rec dlq.OnFailure
				if err := json.Unmarshal([]byte(m), &rec); err != nil {
					t.Fatalf("queue holds %q: %v", m, err)
				}
				b := rec.KinesisBatchInfo
				if b.BatchSize != 1 || b.StartSequenceNumber != b.EndSequenceNumber || rec.RequestContext.ApproximateInvokeCount != 2 {
					t.Errorf("dead letter %+v, want a single record invoked twice", rec)
				}
				got = append(got, b.ShardID+"/"+b.StartSequenceNumber)
			}
			slices.Sort(got)
			want := []string{shards[0] + "/" + seqs[shards[0]][7], shards[1] + "/" + seqs[shards[1]][22]}
			if !slices.Equal(got, want) {
				t.Errorf("queue = %v, want the poison records %v", got, want)
			}

			// Restart over the reopened database with new records.
			for _, s := range shards {
				seqs[s] = append(seqs[s], r.appendN(s, 5)...)
			}
			mu.Lock()
			clear(done)
			mu.Unlock()
			db = openDB(t, path)
			cp = NewBoltCheckpoints(db, boltDLQ{})
			runUntil(t, r, fn, cp, cfg, "second run", caughtUp(cp))
			mu.Lock()
			defer mu.Unlock()
			for _, s := range shards {
				for i, seq := range seqs[s] {
					wantN := 0
					if i >= 30 {
						wantN = 1
					}
					if done[seq] != wantN {
						t.Errorf("%s record %d delivered %d times in the second run, want %d", s, i, done[seq], wantN)
					}
				}
			}
			if n := len(dlqMessages(t, db)); n != 2 {
				t.Errorf("queue holds %d messages after the second run, want 2", n)
			}
		})
	}
}
