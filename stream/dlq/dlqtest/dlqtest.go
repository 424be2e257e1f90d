// Package dlqtest is the contract suite of the dead-letter queue port (dlq.Queue): every adapter (the local
// queue, the SQS one) must pass Run, so that the DLQ tools behave alike on both.
package dlqtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// Env is one case's queue and what the suite needs around it.
type Env struct {
	// Queue is an empty queue whose default visibility timeout is at least 30 seconds.
	Queue dlq.Queue
	// Advance lets d pass on the queue's clock: a fake clock moves, a service's real clock is waited for.
	Advance func(d time.Duration)
	// Destination is a second empty queue, the destination of move tasks; nil skips the move-task cases
	// (with SkipMoveReason as the reason).
	Destination    dlq.Queue
	SkipMoveReason string
}

// Run runs the contract suite. newEnv must return fresh, empty queues for each call; each case runs as its
// own subtest with its own Env.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, e Env)
	}{
		{"SendReceiveDelete", testSendReceiveDelete},
		{"ReceiveHidesMessage", testReceiveHides},
		{"VisibilityTimeoutExpires", testVisibilityExpires},
		{"ChangeVisibilityToZero", testChangeVisibilityZero},
		{"StaleAndRepeatedDelete", testStaleDelete},
		{"InvalidReceiptHandle", testInvalidHandle},
		{"ChangeVisibilityOfDeleted", testChangeVisibilityDeleted},
		{"PeekLeavesMessages", testPeek},
		{"InvalidMessages", testInvalidMessages},
		{"InvalidReceiveOptions", testInvalidReceiveOptions},
		{"EmptyQueue", testEmptyQueue},
		{"BatchOf25", testBatchOf25},
		{"LargestBody", testLargestBody},
		{"CancelledContext", testCancelled},
		{"MoveTask", testMoveTask},
		{"CancelUnknownMoveTask", testCancelUnknownTask},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newEnv(t))
		})
	}
}

// ctx returns a context bounded for one case.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// send sends bodies one by one and returns their ids.
func send(t *testing.T, q dlq.Queue, bodies ...string) []string {
	t.Helper()
	var ids []string
	for _, b := range bodies {
		id, err := q.Send(ctx(t), []byte(b))
		if err != nil {
			t.Fatalf("Send(%q): %v", b, err)
		}
		if id == "" {
			t.Fatalf("Send(%q) gave an empty id", b)
		}
		ids = append(ids, id)
	}
	return ids
}

// receiveN receives until it holds n messages, with the visibility timeout vis; SQS may answer a short poll
// with fewer messages than are visible, so it retries with a short long-poll, a bounded number of times.
func receiveN(t *testing.T, q dlq.Queue, n int, vis time.Duration) []dlq.Message {
	t.Helper()
	var out []dlq.Message
	for try := 0; len(out) < n && try < 10; try++ {
		opts := dlq.ReceiveOptions{Max: min(dlq.MaxReceive, n-len(out)), Visibility: vis}
		if try > 0 {
			opts.Wait = time.Second
		}
		ms, err := q.Receive(ctx(t), opts)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		out = append(out, ms...)
	}
	if len(out) != n {
		t.Fatalf("received %d messages, want %d", len(out), n)
	}
	return out
}

// receiveNone checks that a receive finds nothing visible.
func receiveNone(t *testing.T, q dlq.Queue, why string) {
	t.Helper()
	ms, err := q.Receive(ctx(t), dlq.ReceiveOptions{Max: dlq.MaxReceive})
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(ms) != 0 {
		t.Fatalf("%s: received %d messages (%q), want none", why, len(ms), ms[0].Body)
	}
}

// depth checks the queue's depth.
func depth(t *testing.T, q dlq.Queue, want dlq.Depth) {
	t.Helper()
	got, err := q.Depth(ctx(t))
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	if got != want {
		t.Errorf("Depth = %+v, want %+v", got, want)
	}
}

// byBody sorts messages by body, as SQS gives no order.
func byBody(ms []dlq.Message) {
	slices.SortFunc(ms, func(a, b dlq.Message) int { return bytes.Compare(a.Body, b.Body) })
}

// testSendReceiveDelete sends messages with attributes, receives them with their system attributes, and
// deletes them.
func testSendReceiveDelete(t *testing.T, e Env) {
	q := e.Queue
	msgs := []dlq.Outgoing{
		{Body: []byte(`{"n":0}`), Attributes: map[string]string{"condition": "RetryAttemptsExhausted", "shard": "shardId-000000000001"}},
		{Body: []byte(`{"n":1}`)},
		{Body: []byte("plain text ünïcode")},
	}
	ids, err := q.SendBatch(ctx(t), msgs)
	if err != nil || len(ids) != 3 {
		t.Fatalf("SendBatch = %v, %v", ids, err)
	}
	depth(t, q, dlq.Depth{Visible: 3})
	got := receiveN(t, q, 3, 30*time.Second)
	byBody(got)
	// Sorted by body, the plain text comes first.
	want := []string{"plain text ünïcode", `{"n":0}`, `{"n":1}`}
	for i, m := range got {
		if string(m.Body) != want[i] {
			t.Errorf("message %d: body %q, want %q", i, m.Body, want[i])
		}
		if j := slices.Index(ids, m.ID); j < 0 || string(msgs[j].Body) != string(m.Body) {
			t.Errorf("message %q has id %q, not the one Send gave", m.Body, m.ID)
		}
		if m.ReceiptHandle == "" || m.ReceiveCount != 1 || m.SentAt.IsZero() || m.FirstReceivedAt.IsZero() {
			t.Errorf("message %q: handle %q, receive count %d, sent %v, first received %v", m.Body, m.ReceiptHandle, m.ReceiveCount, m.SentAt, m.FirstReceivedAt)
		}
		if m.FirstReceivedAt.Before(m.SentAt.Truncate(time.Second)) {
			t.Errorf("message %q first received %v before it was sent %v", m.Body, m.FirstReceivedAt, m.SentAt)
		}
	}
	if a := got[1].Attributes; len(a) != 2 || a["condition"] != "RetryAttemptsExhausted" || a["shard"] != "shardId-000000000001" {
		t.Errorf("attributes = %v", a)
	}
	if len(got[2].Attributes) != 0 {
		t.Errorf("a message sent without attributes has %v", got[2].Attributes)
	}
	depth(t, q, dlq.Depth{InFlight: 3})
	if err := q.Delete(ctx(t), got[0].ReceiptHandle); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := q.DeleteBatch(ctx(t), []string{got[1].ReceiptHandle, got[2].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteBatch: %v", err)
	}
	depth(t, q, dlq.Depth{})
}

// testReceiveHides checks that a received message is hidden from other receives.
func testReceiveHides(t *testing.T, e Env) {
	send(t, e.Queue, "one")
	receiveN(t, e.Queue, 1, 30*time.Second)
	receiveNone(t, e.Queue, "while in flight")
	depth(t, e.Queue, dlq.Depth{InFlight: 1})
}

// testVisibilityExpires checks that a message comes back when its visibility timeout ends, with a new
// handle and a receive count of two.
func testVisibilityExpires(t *testing.T, e Env) {
	send(t, e.Queue, "again")
	first := receiveN(t, e.Queue, 1, time.Second)[0]
	receiveNone(t, e.Queue, "before the timeout")
	e.Advance(1500 * time.Millisecond)
	second := receiveN(t, e.Queue, 1, 30*time.Second)[0]
	if second.ID != first.ID || second.ReceiveCount != 2 || second.ReceiptHandle == first.ReceiptHandle {
		t.Errorf("second receive: id %q (first %q), count %d, same handle %v", second.ID, first.ID, second.ReceiveCount, second.ReceiptHandle == first.ReceiptHandle)
	}
	if !second.FirstReceivedAt.Equal(first.FirstReceivedAt) {
		t.Errorf("first receive time changed from %v to %v", first.FirstReceivedAt, second.FirstReceivedAt)
	}
}

// testChangeVisibilityZero checks that a visibility of 0 releases a message at once.
func testChangeVisibilityZero(t *testing.T, e Env) {
	send(t, e.Queue, "release me")
	m := receiveN(t, e.Queue, 1, time.Minute)[0]
	if err := e.Queue.ChangeVisibility(ctx(t), m.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility: %v", err)
	}
	depth(t, e.Queue, dlq.Depth{Visible: 1})
	again := receiveN(t, e.Queue, 1, time.Minute)[0]
	if again.ID != m.ID || again.ReceiveCount != 2 {
		t.Errorf("after release: id %q count %d, want %q and 2", again.ID, again.ReceiveCount, m.ID)
	}
	// Extending a message in flight keeps it hidden.
	if err := e.Queue.ChangeVisibility(ctx(t), again.ReceiptHandle, 2*time.Minute); err != nil {
		t.Fatalf("ChangeVisibility to 2 minutes: %v", err)
	}
	receiveNone(t, e.Queue, "after extending the timeout")
	if err := e.Queue.ChangeVisibility(ctx(t), again.ReceiptHandle, dlq.MaxVisibility+time.Second); !errors.Is(err, dlq.ErrInvalidParameter) {
		t.Errorf("ChangeVisibility beyond 12 h = %v, want ErrInvalidParameter", err)
	}
}

// testStaleDelete checks deletes with an earlier handle and repeated deletes: both succeed.
func testStaleDelete(t *testing.T, e Env) {
	send(t, e.Queue, "twice received")
	first := receiveN(t, e.Queue, 1, time.Minute)[0]
	if err := e.Queue.ChangeVisibility(ctx(t), first.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	second := receiveN(t, e.Queue, 1, time.Minute)[0]
	// SQS accepts an earlier handle; whether the message goes is not promised, so only the outcome of the
	// latest handle is checked.
	if err := e.Queue.Delete(ctx(t), first.ReceiptHandle); err != nil {
		t.Errorf("Delete with an earlier handle: %v", err)
	}
	if err := e.Queue.Delete(ctx(t), second.ReceiptHandle); err != nil {
		t.Errorf("Delete with the latest handle: %v", err)
	}
	if err := e.Queue.Delete(ctx(t), second.ReceiptHandle); err != nil {
		t.Errorf("Delete of a deleted message: %v", err)
	}
	depth(t, e.Queue, dlq.Depth{})
}

// testInvalidHandle checks that handles the queue never gave are refused.
func testInvalidHandle(t *testing.T, e Env) {
	for _, h := range []string{"not-a-handle", "AQEB"} {
		if err := e.Queue.Delete(ctx(t), h); !errors.Is(err, dlq.ErrInvalidReceiptHandle) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidReceiptHandle", h, err)
		}
		err := e.Queue.DeleteBatch(ctx(t), []string{h})
		var be *dlq.BatchError
		if !errors.As(err, &be) || !be.Failed(0) || !errors.Is(err, dlq.ErrInvalidReceiptHandle) {
			t.Errorf("DeleteBatch(%q) = %v, want a *BatchError with ErrInvalidReceiptHandle", h, err)
		}
	}
}

// testChangeVisibilityDeleted checks that a deleted message's handle no longer changes its visibility.
func testChangeVisibilityDeleted(t *testing.T, e Env) {
	send(t, e.Queue, "gone")
	m := receiveN(t, e.Queue, 1, time.Minute)[0]
	if err := e.Queue.Delete(ctx(t), m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := e.Queue.ChangeVisibility(ctx(t), m.ReceiptHandle, 0); !errors.Is(err, dlq.ErrInvalidReceiptHandle) {
		t.Errorf("ChangeVisibility of a deleted message = %v, want ErrInvalidReceiptHandle", err)
	}
}

// testPeek checks that Peek lists without consuming: the messages stay visible, each counted as received.
func testPeek(t *testing.T, e Env) {
	send(t, e.Queue, "p0", "p1", "p2")
	all, err := dlq.Peek(ctx(t), e.Queue, 0)
	if err != nil {
		t.Fatal(err)
	}
	byBody(all)
	if len(all) != 3 || string(all[0].Body) != "p0" || string(all[2].Body) != "p2" || all[0].ReceiptHandle != "" {
		t.Fatalf("Peek = %d messages %v", len(all), all)
	}
	depth(t, e.Queue, dlq.Depth{Visible: 3})
	two, err := dlq.Peek(ctx(t), e.Queue, 2)
	if err != nil || len(two) != 2 {
		t.Fatalf("Peek(2) = %d messages, %v", len(two), err)
	}
	depth(t, e.Queue, dlq.Depth{Visible: 3})
	for _, m := range receiveN(t, e.Queue, 3, time.Minute) {
		// Two peeks received each message at least once, the listed-twice ones twice.
		if m.ReceiveCount < 2 || m.ReceiveCount > 3 {
			t.Errorf("message %q: receive count %d after two peeks and a receive", m.Body, m.ReceiveCount)
		}
	}
}

// testInvalidMessages checks that bodies and attributes SQS refuses fail, alone in a batch.
func testInvalidMessages(t *testing.T, e Env) {
	tests := []struct {
		name string
		msg  dlq.Outgoing
	}{
		{"empty body", dlq.Outgoing{}},
		{"invalid utf-8", dlq.Outgoing{Body: []byte{0xff, 0xfe}}},
		{"too large", dlq.Outgoing{Body: bytes.Repeat([]byte("a"), dlq.MaxBodySize+1)}},
		{"empty attribute value", dlq.Outgoing{Body: []byte("x"), Attributes: map[string]string{"a": ""}}},
		{"reserved attribute name", dlq.Outgoing{Body: []byte("x"), Attributes: map[string]string{"AWS.trace": "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.msg.Attributes == nil {
				if _, err := e.Queue.Send(ctx(t), tt.msg.Body); !errors.Is(err, dlq.ErrInvalidMessage) {
					t.Errorf("Send = %v, want ErrInvalidMessage", err)
				}
			}
			ids, err := e.Queue.SendBatch(ctx(t), []dlq.Outgoing{{Body: []byte("valid")}, tt.msg})
			var be *dlq.BatchError
			if !errors.As(err, &be) || be.Failed(0) || !be.Failed(1) || !errors.Is(err, dlq.ErrInvalidMessage) {
				t.Fatalf("SendBatch = %v, want entry 1 alone to fail with ErrInvalidMessage", err)
			}
			if len(ids) != 2 || ids[0] == "" || ids[1] != "" {
				t.Errorf("SendBatch ids = %q", ids)
			}
		})
	}
	n, err := e.Queue.Depth(ctx(t))
	if err != nil || n.Total() != len(tests) {
		t.Errorf("Depth = %+v, %v; want the %d valid messages", n, err, len(tests))
	}
}

// testInvalidReceiveOptions checks the limits of a receive.
func testInvalidReceiveOptions(t *testing.T, e Env) {
	for _, o := range []dlq.ReceiveOptions{{Max: 11}, {Max: -1}, {Visibility: dlq.MaxVisibility + time.Second}, {Wait: 21 * time.Second}} {
		if _, err := e.Queue.Receive(ctx(t), o); !errors.Is(err, dlq.ErrInvalidParameter) {
			t.Errorf("Receive(%+v) = %v, want ErrInvalidParameter", o, err)
		}
	}
}

// testEmptyQueue checks what an empty queue answers.
func testEmptyQueue(t *testing.T, e Env) {
	receiveNone(t, e.Queue, "empty queue")
	depth(t, e.Queue, dlq.Depth{})
	all, err := dlq.Peek(ctx(t), e.Queue, 0)
	if err != nil || len(all) != 0 {
		t.Errorf("Peek = %v, %v", all, err)
	}
	if ids, err := e.Queue.SendBatch(ctx(t), nil); err != nil || len(ids) != 0 {
		t.Errorf("SendBatch(nil) = %v, %v", ids, err)
	}
	if err := e.Queue.DeleteBatch(ctx(t), nil); err != nil {
		t.Errorf("DeleteBatch(nil) = %v", err)
	}
	arn, err := e.Queue.ARN(ctx(t))
	if err != nil || !strings.HasPrefix(arn, "arn:") || !strings.HasSuffix(arn, ":"+e.Queue.Name()) {
		t.Errorf("ARN = %q, %v", arn, err)
	}
}

// testBatchOf25 checks batches larger than one SQS call.
func testBatchOf25(t *testing.T, e Env) {
	msgs := make([]dlq.Outgoing, 25)
	for i := range msgs {
		msgs[i].Body = fmt.Appendf(nil, `{"i":%02d}`, i)
	}
	ids, err := e.Queue.SendBatch(ctx(t), msgs)
	if err != nil || len(ids) != 25 {
		t.Fatalf("SendBatch = %d ids, %v", len(ids), err)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 25 {
		t.Errorf("ids are not unique: %v", ids)
	}
	depth(t, e.Queue, dlq.Depth{Visible: 25})
	got := receiveN(t, e.Queue, 25, time.Minute)
	handles := make([]string, len(got))
	for i, m := range got {
		handles[i] = m.ReceiptHandle
	}
	if err := e.Queue.DeleteBatch(ctx(t), handles); err != nil {
		t.Fatalf("DeleteBatch: %v", err)
	}
	depth(t, e.Queue, dlq.Depth{})
}

// testLargestBody round-trips a body of MaxBodySize bytes.
func testLargestBody(t *testing.T, e Env) {
	body := bytes.Repeat([]byte("é"), dlq.MaxBodySize/2)
	send(t, e.Queue, string(body))
	m := receiveN(t, e.Queue, 1, time.Minute)[0]
	if !bytes.Equal(m.Body, body) {
		t.Errorf("body of %d bytes came back as %d bytes", len(body), len(m.Body))
	}
}

// testCancelled checks that a cancelled context fails calls with its error.
func testCancelled(t *testing.T, e Env) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Queue.Send(c, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if _, err := e.Queue.Receive(c, dlq.ReceiveOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive = %v, want context.Canceled", err)
	}
	depth(t, e.Queue, dlq.Depth{})
}

// testMoveTask moves the queue's messages to the destination and checks the task's report.
func testMoveTask(t *testing.T, e Env) {
	if e.Destination == nil {
		t.Skip(e.SkipMoveReason)
	}
	send(t, e.Queue, "m0", "m1", "m2")
	dest, err := e.Destination.ARN(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	handle, err := e.Queue.StartMoveTask(ctx(t), dlq.MoveOptions{DestinationARN: dest})
	if err != nil || handle == "" {
		t.Fatalf("StartMoveTask = %q, %v", handle, err)
	}
	var task dlq.MoveTask
	for try := 0; ; try++ {
		tasks, err := e.Queue.ListMoveTasks(ctx(t), 10)
		if err != nil || len(tasks) == 0 {
			t.Fatalf("ListMoveTasks = %v, %v", tasks, err)
		}
		if task = tasks[0]; task.Status != dlq.MoveTaskRunning || try == 30 {
			break
		}
		e.Advance(time.Second)
	}
	if task.Status != dlq.MoveTaskCompleted || task.Moved != 3 || task.DestinationARN != dest {
		t.Errorf("task = %+v, want COMPLETED with 3 moved to %s", task, dest)
	}
	got := receiveN(t, e.Destination, 3, time.Minute)
	byBody(got)
	if string(got[0].Body) != "m0" || string(got[2].Body) != "m2" || got[0].ReceiveCount != 1 {
		t.Errorf("moved messages = %q %q %q, receive count %d", got[0].Body, got[1].Body, got[2].Body, got[0].ReceiveCount)
	}
	depth(t, e.Queue, dlq.Depth{})
	if _, err := e.Queue.CancelMoveTask(ctx(t), handle); !errors.Is(err, dlq.ErrNoRunningTask) {
		t.Errorf("CancelMoveTask of a completed task = %v, want ErrNoRunningTask", err)
	}
}

// testCancelUnknownTask checks that cancelling a task that never ran fails.
func testCancelUnknownTask(t *testing.T, e Env) {
	if e.Destination == nil {
		t.Skip(e.SkipMoveReason)
	}
	if _, err := e.Queue.CancelMoveTask(ctx(t), "no-such-task"); !errors.Is(err, dlq.ErrNoRunningTask) {
		t.Errorf("CancelMoveTask = %v, want ErrNoRunningTask", err)
	}
	tasks, err := e.Queue.ListMoveTasks(ctx(t), 1)
	if err != nil || len(tasks) != 0 {
		t.Errorf("ListMoveTasks of a queue without tasks = %v, %v", tasks, err)
	}
}
