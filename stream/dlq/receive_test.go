package dlq

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLocalReceiptHandles checks what the local queue does with handles beyond the contract suite, which
// SQS documents but its emulator does not share: an earlier handle leaves the message in place, and a
// visibility change needs the latest handle of a message in flight.
func TestLocalReceiptHandles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openDB(t)
	q := openQueue(t, db, "sdp-dlq")
	clock := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	q.now = func() time.Time { return clock }
	if _, err := q.Send(ctx, []byte("m")); err != nil {
		t.Fatal(err)
	}
	receive := func() Message {
		t.Helper()
		ms, err := q.Receive(ctx, ReceiveOptions{Visibility: 10 * time.Second})
		if err != nil || len(ms) != 1 {
			t.Fatalf("Receive = %v, %v", ms, err)
		}
		return ms[0]
	}
	first := receive()
	clock = clock.Add(10 * time.Second) // the timeout ends exactly now: visible again
	second := receive()
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		wantLen int
	}{
		{"earlier handle deletes nothing", func() error { return q.Delete(ctx, first.ReceiptHandle) }, nil, 1},
		{"earlier handle changes nothing", func() error { return q.ChangeVisibility(ctx, first.ReceiptHandle, 0) }, ErrInvalidReceiptHandle, 1},
		{"malformed handle", func() error { return q.Delete(ctx, "zz") }, ErrInvalidReceiptHandle, 1},
		{"latest handle in flight", func() error { return q.ChangeVisibility(ctx, second.ReceiptHandle, 5*time.Second) }, nil, 1},
		{"not in flight any more", func() error {
			clock = clock.Add(5 * time.Second)
			return q.ChangeVisibility(ctx, second.ReceiptHandle, 5*time.Second)
		}, ErrMessageNotInFlight, 1},
		{"latest handle deletes, even once visible", func() error { return q.Delete(ctx, second.ReceiptHandle) }, nil, 0},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Errorf("%s: %v, want %v", s.name, err, s.wantErr)
		}
		if n, _ := q.Len(ctx); n != s.wantLen {
			t.Errorf("%s: Len = %d, want %d", s.name, n, s.wantLen)
		}
	}
	if second.ReceiveCount != 2 || !second.FirstReceivedAt.Equal(first.FirstReceivedAt) || first.FirstReceivedAt.IsZero() {
		t.Errorf("second receive: count %d, first received %v (was %v)", second.ReceiveCount, second.FirstReceivedAt, first.FirstReceivedAt)
	}
}

// TestLocalLongPoll checks that a waiting Receive returns as soon as a message is sent, and that List and
// Get show receive state without receiving.
func TestLocalLongPoll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openDB(t)
	q := openQueue(t, db, "sdp-dlq")
	got := make(chan []Message, 1)
	waiting := q.waiter()
	go func() {
		ms, err := q.Receive(ctx, ReceiveOptions{Wait: MaxWait})
		if err != nil {
			t.Error(err)
		}
		got <- ms
	}()
	// The receive may or may not have started waiting; the send wakes it either way, or it finds the
	// message on its first look.
	id, err := q.Send(ctx, []byte("wake up"))
	if err != nil {
		t.Fatal(err)
	}
	<-waiting
	ms := <-got
	if len(ms) != 1 || ms[0].ID != id {
		t.Fatalf("long poll = %v, want the sent message", ms)
	}
	list, err := q.List(ctx, 0)
	if err != nil || len(list) != 1 || list[0].ReceiveCount != 1 || list[0].ReceiptHandle != "" {
		t.Errorf("List = %+v, %v", list, err)
	}
	if m, ok, _ := q.Get(ctx, id); !ok || m.ReceiveCount != 1 {
		t.Errorf("Get = %+v, %v", m, ok)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Receive(cctx, ReceiveOptions{Wait: time.Second}); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context = %v", err)
	}
}
