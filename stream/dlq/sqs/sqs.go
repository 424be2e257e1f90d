// Package sqs is the SQS adapter of the dead-letter queue port (dlq.Queue): one queue, given by its URL,
// reached through a consumer-owned subset of the SQS client (API).
//
// Calls are single SQS calls, retried by the SDK client's own retryer; batch calls (SendBatch, DeleteBatch)
// split their entries into calls of dlq.MaxBatch and retry, with exponential backoff and jitter, the entries
// SQS failed for a reason of its own (SenderFault false). Errors name the operation and the queue, wrap the
// SDK's error, and wrap the port's sentinels (dlq.ErrInvalidReceiptHandle and the others) where SQS's error
// code means one.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// API is the part of the SQS client a Queue uses. *sqs.Client satisfies it.
type API interface {
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, params *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, params *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	StartMessageMoveTask(ctx context.Context, params *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, params *sqs.ListMessageMoveTasksInput, optFns ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
	CancelMessageMoveTask(ctx context.Context, params *sqs.CancelMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.CancelMessageMoveTaskOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Queue is a dead-letter queue in SQS. It is safe for concurrent use.
type Queue struct {
	api        API
	url, name  string
	newBackOff func() backoff.BackOff

	// mu guards arn, looked up once.
	mu  sync.Mutex
	arn string
}

var _ dlq.Queue = (*Queue)(nil)

// Option configures a Queue.
type Option func(*Queue)

// WithBackOff sets the policy of the retries of failed batch entries; each batch call gets a fresh policy.
// The default is exponential with jitter, 50 ms to 2 s between tries, for at most 15 s, and ends with ctx.
func WithBackOff(newBackOff func() backoff.BackOff) Option {
	return func(q *Queue) {
		if newBackOff != nil {
			q.newBackOff = newBackOff
		}
	}
}

// WithARN sets the queue's ARN, which the Queue otherwise looks up (GetQueueAttributes) on first need.
func WithARN(arn string) Option {
	return func(q *Queue) { q.arn = arn }
}

// New returns the queue at queueURL (as CreateQueue or GetQueueUrl return it) reached through api. It does
// no I/O; it fails when the URL does not end with a queue name.
func New(api API, queueURL string, opts ...Option) (*Queue, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("sqs: queue URL %q is not an absolute URL", queueURL)
	}
	name := u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	if name == "" {
		return nil, fmt.Errorf("sqs: queue URL %q names no queue", queueURL)
	}
	q := &Queue{api: api, url: queueURL, name: name, newBackOff: defaultBackOff}
	for _, o := range opts {
		o(q)
	}
	return q, nil
}

// defaultBackOff is exponential with jitter, bounded to 15 s.
func defaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = 15 * time.Second
	return b
}

// Name returns the queue's name, the last segment of its URL.
func (q *Queue) Name() string { return q.name }

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// errorf wraps err with the operation and the queue, adding the port's sentinel that SQS's error code
// means, if any.
func (q *Queue) errorf(op string, err error) error {
	if s := sentinel(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf("sqs: %s on queue %s: %w: %w", op, q.name, s, err)
	}
	return fmt.Errorf("sqs: %s on queue %s: %w", op, q.name, err)
}

// sentinel returns the port's error that the service's error code in err means, or nil.
func sentinel(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return nil
	}
	return codeSentinel(ae.ErrorCode())
}

// codeSentinel returns the port's error that an SQS error code means, or nil.
func codeSentinel(code string) error {
	switch code {
	case "ReceiptHandleIsInvalid", "InvalidIdFormat":
		return dlq.ErrInvalidReceiptHandle
	case "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight":
		return dlq.ErrMessageNotInFlight
	case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue":
		return dlq.ErrQueueNotFound
	case "InvalidMessageContents", "InvalidAttributeValue", "InvalidAttributeName":
		return dlq.ErrInvalidMessage
	case "InvalidParameterValue", "InvalidParameterValueException":
		return dlq.ErrInvalidParameter
	}
	return nil
}

// ARN returns the queue's ARN, looked up with GetQueueAttributes the first time.
func (q *Queue) ARN(ctx context.Context) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.arn != "" {
		return q.arn, nil
	}
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", q.errorf("get queue ARN", err)
	}
	if q.arn = out.Attributes[string(types.QueueAttributeNameQueueArn)]; q.arn == "" {
		return "", fmt.Errorf("sqs: get queue ARN on queue %s: no QueueArn attribute", q.name)
	}
	return q.arn, nil
}

// attributes returns m's attributes in SQS's form, nil when it has none.
func attributes(m dlq.Outgoing) map[string]types.MessageAttributeValue {
	if len(m.Attributes) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(m.Attributes))
	for k, v := range m.Attributes {
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return out
}

// Send sends one message (SendMessage) and returns its id.
func (q *Queue) Send(ctx context.Context, body []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", q.errorf("send message", err)
	}
	if err := dlq.ValidateOutgoing(dlq.Outgoing{Body: body}); err != nil {
		return "", q.errorf("send message", err)
	}
	out, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body))})
	if err != nil {
		return "", q.errorf("send message", err)
	}
	return aws.ToString(out.MessageId), nil
}

// SendBatch sends the messages with SendMessageBatch, dlq.MaxBatch at a time, and returns their ids. Invalid
// messages fail alone (checked before sending); entries SQS failed for a reason of its own are retried with
// backoff; the rest of the failures are reported, index for index, in a *dlq.BatchError.
func (q *Queue) SendBatch(ctx context.Context, msgs []dlq.Outgoing) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, q.errorf("send message batch", err)
	}
	ids := make([]string, len(msgs))
	errs := make([]error, len(msgs))
	var pending []int
	for i, m := range msgs {
		if err := dlq.ValidateOutgoing(m); err != nil {
			errs[i] = err
			continue
		}
		pending = append(pending, i)
	}
	for start := 0; start < len(pending); start += dlq.MaxBatch {
		chunk := pending[start:min(start+dlq.MaxBatch, len(pending))]
		q.retryBatch(ctx, chunk, errs, func(todo []int) (map[int]bool, map[int]error, error) {
			in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url)}
			for _, i := range todo {
				in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
					Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(msgs[i].Body)), MessageAttributes: attributes(msgs[i]),
				})
			}
			out, err := q.api.SendMessageBatch(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			for _, s := range out.Successful {
				if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(ids) {
					ids[i] = aws.ToString(s.MessageId)
				}
			}
			retry, failed := batchFailures(out.Failed)
			return retry, failed, nil
		})
	}
	for _, err := range errs {
		if err != nil {
			return ids, q.errorf("send message batch", &dlq.BatchError{Errs: errs})
		}
	}
	return ids, nil
}

// batchFailures sorts the failed entries of a batch call, by entry index, into those to retry (SQS's fault)
// and those that failed for good (the sender's fault).
func batchFailures(failed []types.BatchResultErrorEntry) (map[int]bool, map[int]error) {
	retry, perm := map[int]bool{}, map[int]error{}
	for _, f := range failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil {
			continue
		}
		if !f.SenderFault {
			retry[i] = true
			continue
		}
		err = fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		if s := codeSentinel(aws.ToString(f.Code)); s != nil {
			err = fmt.Errorf("%w: %s: %s", s, aws.ToString(f.Code), aws.ToString(f.Message))
		}
		perm[i] = err
	}
	return retry, perm
}

// retryBatch calls call with the entries of chunk until none is left to retry, the backoff gives up or ctx
// ends, recording each entry's final error in errs. call returns the entries to retry, the entries that
// failed for good, or an error of the whole call (which fails the chunk's remaining entries).
func (q *Queue) retryBatch(ctx context.Context, chunk []int, errs []error,
	call func(todo []int) (retry map[int]bool, failed map[int]error, err error)) {
	b := backoff.WithContext(q.newBackOff(), ctx)
	b.Reset()
	todo := chunk
	for {
		retry, failed, err := call(todo)
		if err != nil {
			for _, i := range todo {
				errs[i] = err
			}
			return
		}
		var next []int
		for _, i := range todo {
			switch {
			case failed[i] != nil:
				errs[i] = failed[i]
			case retry[i]:
				next = append(next, i)
			}
		}
		if len(next) == 0 {
			return
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			for _, i := range next {
				errs[i] = fmt.Errorf("entry failed on the service's side and retries are exhausted: %w", errors.Join(ctx.Err(), errRetriesExhausted))
			}
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			for _, i := range next {
				errs[i] = ctx.Err()
			}
			return
		case <-t.C:
		}
		todo = next
	}
}

// errRetriesExhausted marks batch entries still failing when the backoff gave up.
var errRetriesExhausted = errors.New("retries exhausted")

// Receive receives up to opts.Max messages (ReceiveMessage) with their SentTimestamp,
// ApproximateReceiveCount and ApproximateFirstReceiveTimestamp and all their message attributes (String
// and Number attributes as text; Binary ones are left out).
func (q *Queue) Receive(ctx context.Context, opts dlq.ReceiveOptions) ([]dlq.Message, error) {
	opts, err := opts.Normalize()
	if err != nil {
		return nil, q.errorf("receive message", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, q.errorf("receive message", err)
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: int32(opts.Max),
		WaitTimeSeconds:     int32(opts.Wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp, types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
		},
		MessageAttributeNames: []string{"All"},
	}
	if opts.Visibility > 0 {
		in.VisibilityTimeout = int32(opts.Visibility / time.Second)
	}
	out, err := q.api.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, q.errorf("receive message", err)
	}
	msgs := make([]dlq.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, message(m))
	}
	return msgs, nil
}

// message converts a received SQS message.
func message(m types.Message) dlq.Message {
	out := dlq.Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), ReceiptHandle: aws.ToString(m.ReceiptHandle)}
	out.SentAt = millis(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)])
	out.FirstReceivedAt = millis(m.Attributes[string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)])
	out.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	for k, v := range m.MessageAttributes {
		if v.StringValue == nil {
			continue
		}
		if out.Attributes == nil {
			out.Attributes = map[string]string{}
		}
		out.Attributes[k] = *v.StringValue
	}
	return out
}

// millis converts SQS's timestamps (Unix milliseconds as text); zero when absent or malformed.
func millis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// Delete deletes a message by receipt handle (DeleteMessage).
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	if err := ctx.Err(); err != nil {
		return q.errorf("delete message", err)
	}
	_, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receiptHandle)})
	if err != nil {
		return q.errorf("delete message", err)
	}
	return nil
}

// DeleteBatch deletes messages by receipt handle with DeleteMessageBatch, dlq.MaxBatch at a time, retrying
// entries SQS failed for a reason of its own.
func (q *Queue) DeleteBatch(ctx context.Context, receiptHandles []string) error {
	if err := ctx.Err(); err != nil {
		return q.errorf("delete message batch", err)
	}
	errs := make([]error, len(receiptHandles))
	for start := 0; start < len(receiptHandles); start += dlq.MaxBatch {
		chunk := make([]int, 0, dlq.MaxBatch)
		for i := start; i < min(start+dlq.MaxBatch, len(receiptHandles)); i++ {
			chunk = append(chunk, i)
		}
		q.retryBatch(ctx, chunk, errs, func(todo []int) (map[int]bool, map[int]error, error) {
			in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url)}
			for _, i := range todo {
				in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(receiptHandles[i])})
			}
			out, err := q.api.DeleteMessageBatch(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			retry, failed := batchFailures(out.Failed)
			return retry, failed, nil
		})
	}
	for _, err := range errs {
		if err != nil {
			return q.errorf("delete message batch", &dlq.BatchError{Errs: errs})
		}
	}
	return nil
}

// ChangeVisibility sets a message's remaining visibility timeout (ChangeMessageVisibility).
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	if err := dlq.CheckVisibility(timeout); err != nil {
		return q.errorf("change message visibility", err)
	}
	if err := ctx.Err(); err != nil {
		return q.errorf("change message visibility", err)
	}
	_, err := q.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receiptHandle), VisibilityTimeout: int32(timeout / time.Second),
	})
	if err != nil {
		return q.errorf("change message visibility", err)
	}
	return nil
}

// Depth returns ApproximateNumberOfMessages and ApproximateNumberOfMessagesNotVisible (GetQueueAttributes).
func (q *Queue) Depth(ctx context.Context) (dlq.Depth, error) {
	if err := ctx.Err(); err != nil {
		return dlq.Depth{}, q.errorf("get queue depth", err)
	}
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return dlq.Depth{}, q.errorf("get queue depth", err)
	}
	var d dlq.Depth
	var errV, errI error
	d.Visible, errV = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	d.InFlight, errI = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if err := errors.Join(errV, errI); err != nil {
		return dlq.Depth{}, q.errorf("get queue depth", err)
	}
	return d, nil
}

// StartMoveTask starts a message move task from this queue (StartMessageMoveTask). SQS moves the messages
// in the background: poll ListMoveTasks for its progress.
func (q *Queue) StartMoveTask(ctx context.Context, opts dlq.MoveOptions) (string, error) {
	arn, err := q.ARN(ctx)
	if err != nil {
		return "", err
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arn)}
	if opts.DestinationARN != "" {
		in.DestinationArn = aws.String(opts.DestinationARN)
	}
	if opts.MaxPerSecond > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(opts.MaxPerSecond))
	}
	out, err := q.api.StartMessageMoveTask(ctx, in)
	if err != nil {
		if s := moveSentinel(err); s != nil {
			return "", fmt.Errorf("sqs: start message move task on queue %s: %w: %w", q.name, s, err)
		}
		return "", q.errorf("start message move task", err)
	}
	return aws.ToString(out.TaskHandle), nil
}

// moveSentinel returns the port's error that a failed StartMessageMoveTask means, or nil.
func moveSentinel(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return nil
	}
	if ae.ErrorCode() == "ResourceNotFoundException" {
		return dlq.ErrQueueNotFound
	}
	if strings.Contains(strings.ToLower(ae.ErrorMessage()), "already") && strings.Contains(strings.ToLower(ae.ErrorMessage()), "task") {
		return dlq.ErrMoveTaskRunning
	}
	return nil
}

// ListMoveTasks lists the queue's most recent move tasks (ListMessageMoveTasks), newest first.
func (q *Queue) ListMoveTasks(ctx context.Context, max int) ([]dlq.MoveTask, error) {
	if max < 0 || max > 10 {
		return nil, q.errorf("list message move tasks", fmt.Errorf("%w: max %d, must be 1 to 10", dlq.ErrInvalidParameter, max))
	}
	arn, err := q.ARN(ctx)
	if err != nil {
		return nil, err
	}
	in := &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(arn)}
	if max > 0 {
		in.MaxResults = aws.Int32(int32(max))
	}
	out, err := q.api.ListMessageMoveTasks(ctx, in)
	if err != nil {
		return nil, q.errorf("list message move tasks", err)
	}
	tasks := make([]dlq.MoveTask, 0, len(out.Results))
	for _, r := range out.Results {
		tasks = append(tasks, dlq.MoveTask{
			TaskHandle: aws.ToString(r.TaskHandle), Status: aws.ToString(r.Status), SourceARN: aws.ToString(r.SourceArn),
			DestinationARN: aws.ToString(r.DestinationArn), MaxPerSecond: int(aws.ToInt32(r.MaxNumberOfMessagesPerSecond)),
			Moved: r.ApproximateNumberOfMessagesMoved, ToMove: aws.ToInt64(r.ApproximateNumberOfMessagesToMove),
			FailureReason: aws.ToString(r.FailureReason), StartedAt: time.UnixMilli(r.StartedTimestamp).UTC(),
		})
	}
	return tasks, nil
}

// CancelMoveTask cancels a running move task (CancelMessageMoveTask); SQS's ResourceNotFoundException (the
// task is unknown or not running) is dlq.ErrNoRunningTask.
func (q *Queue) CancelMoveTask(ctx context.Context, taskHandle string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, q.errorf("cancel message move task", err)
	}
	out, err := q.api.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: aws.String(taskHandle)})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return 0, fmt.Errorf("sqs: cancel message move task on queue %s: %w: %w", q.name, dlq.ErrNoRunningTask, err)
		}
		return 0, q.errorf("cancel message move task", err)
	}
	return out.ApproximateNumberOfMessagesMoved, nil
}
