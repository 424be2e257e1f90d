package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Queue is the dead-letter queue port: the operations of SQS that the DLQ tools (inspect, explain, redrive)
// use, with the same semantics in every adapter. A message received is hidden for its visibility timeout and
// comes with a receipt handle that is new on every receive; it is deleted, or made visible again, through
// that handle. Every method does I/O, blocks until its call completes and honours ctx; none retries a call
// that the queue refused for a reason of the caller's (an invalid body or handle). Implementations are safe
// for concurrent use.
type Queue interface {
	// Name returns the queue's name.
	Name() string
	// ARN returns the queue's Amazon Resource Name, as move tasks name their queues. It may look the queue
	// up the first time.
	ARN(ctx context.Context) (string, error)
	// Send adds one message and returns its message id. A body SQS would refuse fails with
	// ErrInvalidMessage.
	Send(ctx context.Context, body []byte) (string, error)
	// SendBatch adds the messages (any number: adapters split them into calls of at most MaxBatch) and
	// returns their message ids, index for index. When some fail, the error is a *BatchError whose Errs
	// are index for index too, and the ids of the failed ones are empty.
	SendBatch(ctx context.Context, msgs []Outgoing) ([]string, error)
	// Receive returns up to opts.Max visible messages, hiding each for the visibility timeout and counting
	// the receive. It returns no messages and no error when none is visible after opts.Wait.
	Receive(ctx context.Context, opts ReceiveOptions) ([]Message, error)
	// Delete deletes the message received with receiptHandle. Deleting a message already deleted succeeds;
	// a handle of an earlier receive of the message succeeds too, but may leave the message in the queue
	// (SQS's rule: only the latest handle is sure to delete). A handle the queue never gave fails with
	// ErrInvalidReceiptHandle.
	Delete(ctx context.Context, receiptHandle string) error
	// DeleteBatch deletes several messages by receipt handle, as Delete does each; its error is a
	// *BatchError, index for index, when some fail.
	DeleteBatch(ctx context.Context, receiptHandles []string) error
	// ChangeVisibility sets the remaining visibility timeout of the message received with receiptHandle
	// to timeout (whole seconds, at most MaxVisibility), counted from now; 0 makes it visible at once.
	ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error
	// Depth returns the approximate number of messages, visible and in flight.
	Depth(ctx context.Context) (Depth, error)
	// StartMoveTask starts moving the queue's messages to another queue (redrive) and returns the task's
	// handle. Only one task per source queue runs at a time; another start fails with ErrMoveTaskRunning.
	StartMoveTask(ctx context.Context, opts MoveOptions) (string, error)
	// ListMoveTasks returns the queue's most recent move tasks, newest first, at most max (1 to 10).
	ListMoveTasks(ctx context.Context, max int) ([]MoveTask, error)
	// CancelMoveTask stops a running task and returns how many messages it moved. A task that is not
	// running (or unknown) fails with ErrNoRunningTask.
	CancelMoveTask(ctx context.Context, taskHandle string) (int64, error)
}

// SQS's limits, which every adapter applies.
const (
	// MaxBatch is the largest number of entries in one batch call.
	MaxBatch = 10
	// MaxReceive is the largest number of messages one Receive returns.
	MaxReceive = 10
	// MaxWait is the longest a Receive waits for a message.
	MaxWait = 20 * time.Second
	// MaxVisibility is the longest visibility timeout.
	MaxVisibility = 12 * time.Hour
	// MaxAttributes is the largest number of message attributes.
	MaxAttributes = 10
)

// Errors of the port. Adapters wrap them (errors.Is finds them) together with the service's own error.
var (
	// ErrInvalidReceiptHandle marks a receipt handle the queue never gave, or one that no longer allows the
	// operation (ChangeVisibility of a deleted message).
	ErrInvalidReceiptHandle = errors.New("dlq: invalid receipt handle")
	// ErrMessageNotInFlight marks a visibility change of a message that is visible (not received, or its
	// visibility timeout ended).
	ErrMessageNotInFlight = errors.New("dlq: message not in flight")
	// ErrInvalidParameter marks an option out of SQS's range.
	ErrInvalidParameter = errors.New("dlq: invalid parameter")
	// ErrQueueNotFound marks a queue that does not exist.
	ErrQueueNotFound = errors.New("dlq: queue does not exist")
	// ErrMoveTaskRunning marks a move task started while another one of the same source runs.
	ErrMoveTaskRunning = errors.New("dlq: a move task is already running")
	// ErrNoRunningTask marks a cancel of a move task that is not running.
	ErrNoRunningTask = errors.New("dlq: no running move task has this handle")
)

// Outgoing is a message to send.
type Outgoing struct {
	// Body is the message (1 byte to MaxBodySize, valid UTF-8).
	Body []byte
	// Attributes are message attributes, sent as SQS String attributes (at most MaxAttributes, names and
	// values non-empty).
	Attributes map[string]string
}

// ValidateOutgoing checks m against SQS's rules for a message, as every adapter does before sending.
func ValidateOutgoing(m Outgoing) error {
	if err := validateBody(m.Body); err != nil {
		return err
	}
	if len(m.Attributes) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d are allowed", ErrInvalidMessage, len(m.Attributes), MaxAttributes)
	}
	for k, v := range m.Attributes {
		lower := strings.ToLower(k)
		switch {
		case k == "" || len(k) > 256:
			return fmt.Errorf("%w: attribute name %q must have 1 to 256 characters", ErrInvalidMessage, k)
		case strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon."):
			return fmt.Errorf("%w: attribute name %q uses a reserved prefix", ErrInvalidMessage, k)
		case v == "":
			return fmt.Errorf("%w: attribute %q has an empty value", ErrInvalidMessage, k)
		}
	}
	return nil
}

// ReceiveOptions tune a Receive. The zero value receives one message, with the queue's default visibility
// timeout, without waiting.
type ReceiveOptions struct {
	// Max is how many messages to return at most, 1 to MaxReceive (0 means 1).
	Max int
	// Visibility is how long the received messages stay hidden, in whole seconds up to MaxVisibility
	// (0 means the queue's default).
	Visibility time.Duration
	// Wait is how long to wait for a message when none is visible, up to MaxWait (long polling).
	Wait time.Duration
}

// Normalize returns o with its defaults applied, or ErrInvalidParameter when a value is out of range.
func (o ReceiveOptions) Normalize() (ReceiveOptions, error) {
	switch {
	case o.Max < 0 || o.Max > MaxReceive:
		return o, fmt.Errorf("%w: receive %d messages: must be 1 to %d", ErrInvalidParameter, o.Max, MaxReceive)
	case o.Visibility < 0 || o.Visibility > MaxVisibility:
		return o, fmt.Errorf("%w: visibility timeout %v: must be 0 to %v", ErrInvalidParameter, o.Visibility, MaxVisibility)
	case o.Wait < 0 || o.Wait > MaxWait:
		return o, fmt.Errorf("%w: wait %v: must be 0 to %v", ErrInvalidParameter, o.Wait, MaxWait)
	}
	if o.Max == 0 {
		o.Max = 1
	}
	o.Visibility = o.Visibility.Truncate(time.Second)
	o.Wait = o.Wait.Truncate(time.Second)
	return o, nil
}

// CheckVisibility returns ErrInvalidParameter unless d is a visibility timeout SQS accepts.
func CheckVisibility(d time.Duration) error {
	if d < 0 || d > MaxVisibility {
		return fmt.Errorf("%w: visibility timeout %v: must be 0 to %v", ErrInvalidParameter, d, MaxVisibility)
	}
	return nil
}

// Depth is the approximate size of a queue.
type Depth struct {
	// Visible is the number of messages a Receive can return.
	Visible int
	// InFlight is the number of messages received and not deleted whose visibility timeout runs.
	InFlight int
}

// Total returns the number of messages in the queue.
func (d Depth) Total() int { return d.Visible + d.InFlight }

// Move task statuses, as SQS names them.
const (
	// MoveTaskRunning: the task is moving messages; only a running task can be cancelled.
	MoveTaskRunning = "RUNNING"
	// MoveTaskCompleted: every message the task found was moved.
	MoveTaskCompleted = "COMPLETED"
	// MoveTaskCancelling: a cancel was asked for and the task is stopping.
	MoveTaskCancelling = "CANCELLING"
	// MoveTaskCancelled: the task stopped on a cancel; the messages already moved stay moved.
	MoveTaskCancelled = "CANCELLED"
	// MoveTaskFailed: the task stopped on an error, given in FailureReason.
	MoveTaskFailed = "FAILED"
)

// MoveOptions tune a move task.
type MoveOptions struct {
	// DestinationARN is the queue that receives the messages. Empty means each message's original source
	// queue, which only SQS knows (a message dead-lettered by SQS redrive); the local queue requires it.
	DestinationARN string
	// MaxPerSecond caps the messages moved per second (0: the service's default). The local queue moves
	// every message at once and ignores it.
	MaxPerSecond int
}

// MoveTask is a move task's state, as ListMoveTasks reports it.
type MoveTask struct {
	// TaskHandle identifies a running task (SQS gives no handle for a finished one).
	TaskHandle string `json:"taskHandle,omitempty"`
	// Status is one of the MoveTask… statuses.
	Status string `json:"status"`
	// SourceARN is the queue the messages leave.
	SourceARN string `json:"sourceArn"`
	// DestinationARN is the queue they go to; empty when each goes back to its original source.
	DestinationARN string `json:"destinationArn,omitempty"`
	// MaxPerSecond is the task's rate limit, 0 when it has none.
	MaxPerSecond int `json:"maxPerSecond,omitempty"`
	// Moved is the approximate number of messages moved so far.
	Moved int64 `json:"moved"`
	// ToMove is the approximate number of messages the task found to move.
	ToMove int64 `json:"toMove"`
	// FailureReason says why a failed task failed.
	FailureReason string `json:"failureReason,omitempty"`
	// StartedAt is when the task started.
	StartedAt time.Time `json:"startedAt"`
}

// BatchError reports a batch call in which some entries failed: Errs holds one error per entry, index for
// index, nil for the entries that succeeded.
type BatchError struct {
	Errs []error
}

// Error lists the failed entries.
func (e *BatchError) Error() string {
	var b strings.Builder
	n := 0
	for i, err := range e.Errs {
		if err == nil {
			continue
		}
		if n > 0 {
			b.WriteString("; ")
		}
		n++
		fmt.Fprintf(&b, "entry %d: %v", i, err)
	}
	return fmt.Sprintf("dlq: %d of %d entries failed: %s", n, len(e.Errs), b.String())
}

// Unwrap returns the entries' errors, so that errors.Is finds any of them.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Failed reports whether entry i failed.
func (e *BatchError) Failed(i int) bool { return i < len(e.Errs) && e.Errs[i] != nil }

// Peek returns up to max messages (max <= 0: every message it can see) without consuming them. SQS has no
// peek, so neither does the port: Peek receives with a short visibility timeout until the queue has no
// more visible messages, then makes every message it received visible again. Both adapters therefore behave
// alike: each peeked message's receive count grows by one, and messages in flight (received by someone else)
// are not listed. The messages come back in the order received, with their receipt handles cleared.
func Peek(ctx context.Context, q Queue, max int) ([]Message, error) {
	var out []Message
	var handles []string
	// The hidden messages are released even when a receive fails or ctx ends; a fresh context bounds it.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, h := range handles {
			_ = q.ChangeVisibility(rctx, h, 0)
		}
	}()
	for max <= 0 || len(out) < max {
		n := MaxReceive
		if max > 0 {
			n = min(n, max-len(out))
		}
		ms, err := q.Receive(ctx, ReceiveOptions{Max: n, Visibility: peekVisibility})
		if err != nil {
			return nil, fmt.Errorf("dlq: peek %s: %w", q.Name(), err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			handles = append(handles, m.ReceiptHandle)
			m.ReceiptHandle = ""
			out = append(out, m)
		}
	}
	return out, nil
}

// peekVisibility is how long Peek hides what it saw: long enough to finish listing, short enough that a
// crashed Peek delays nothing for long.
const peekVisibility = 30 * time.Second
