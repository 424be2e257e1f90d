package sqs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/dlqtest"
	"github.com/serverless-data-platform/sdp/stream/dlq/sqs"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// suffix returns a random suffix for resource names.
func suffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// motoClient returns an SQS client of the test binary's moto server.
func motoClient(t testing.TB) *awssqs.Client {
	t.Helper()
	srv := emulator.Require(t, emulator.Moto)
	return awssqs.NewFromConfig(srv.Config(), func(o *awssqs.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
}

// newQueue creates a fresh queue on moto and returns the adapter of it.
func newQueue(t testing.TB, client *awssqs.Client, prefix string) *sqs.Queue {
	t.Helper()
	url, err := sqs.CreateQueue(emulator.Context(t), client, prefix+"-"+suffix(t), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.New(client, url)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestContractMoto runs the queue's contract suite on SQS as moto serves it. moto's clock is real, so the
// visibility-timeout case waits for it (1.5 s). moto has no message move tasks; TestMoveTasks checks their
// requests against a server of recorded shape instead.
func TestContractMoto(t *testing.T) {
	client := motoClient(t)
	dlqtest.Run(t, func(t *testing.T) dlqtest.Env {
		return dlqtest.Env{
			Queue: newQueue(t, client, "sdp-dlq"),
			// The emulator's own clock has to pass: there is no other way to end a visibility timeout.
			Advance:        func(d time.Duration) { time.Sleep(d) },
			SkipMoveReason: "moto 5.2 does not implement StartMessageMoveTask",
		}
	})
}

// TestNew checks the queue URLs New accepts.
func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"aws", "https://sqs.eu-west-1.amazonaws.com/111122223333/sdp-dlq", "sdp-dlq"},
		{"emulator", "http://127.0.0.1:4566/000000000000/q-1", "q-1"},
		{"no name", "https://sqs.eu-west-1.amazonaws.com/111122223333/", ""},
		{"relative", "sdp-dlq", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := sqs.New(nil, tt.url)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("New(%q) accepted", tt.url)
				}
				return
			}
			if err != nil || q.Name() != tt.want || q.URL() != tt.url {
				t.Fatalf("New(%q) = %v, %v", tt.url, q, err)
			}
		})
	}
}

// recorded is a server of SQS's JSON protocol that answers each operation (X-Amz-Target) with a recorded
// status and body, and keeps the requests.
type recorded struct {
	mu       sync.Mutex
	answers  map[string][]answer
	requests map[string][]map[string]any
}

// answer is one recorded response.
type answer struct {
	status int
	body   string
}

// ServeHTTP answers with the next recorded response of the operation.
func (r *recorded) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AmazonSQS.")
	b, _ := io.ReadAll(req.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[op] = append(r.requests[op], body)
	as := r.answers[op]
	if len(as) == 0 {
		http.Error(w, `{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"not recorded"}`, http.StatusBadRequest)
		return
	}
	r.answers[op] = as[1:]
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(as[0].status)
	_, _ = io.WriteString(w, as[0].body)
}

// recordedQueue starts a recorded server and returns a Queue of it.
func recordedQueue(t *testing.T, answers map[string][]answer) (*sqs.Queue, *recorded) {
	t.Helper()
	rec := &recorded{answers: answers, requests: map[string][]map[string]any{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	client := awssqs.NewFromConfig(aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		func(o *awssqs.Options) {
			o.BaseEndpoint = aws.String(srv.URL)
			o.RetryMaxAttempts = 1
		})
	q, err := sqs.New(client, srv.URL+"/111122223333/sdp-dlq", sqs.WithBackOff(func() backoff.BackOff { return &backoff.ZeroBackOff{} }))
	if err != nil {
		t.Fatal(err)
	}
	return q, rec
}

// TestMoveTasks checks the requests of the move-task calls and the reading of their answers, against
// answers in SQS's documented shapes.
func TestMoveTasks(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:sqs:eu-west-1:111122223333:sdp-dlq"
	const dest = "arn:aws:sqs:eu-west-1:111122223333:sdp-source"
	q, rec := recordedQueue(t, map[string][]answer{
		"GetQueueAttributes":   {{200, `{"Attributes":{"QueueArn":"` + arn + `"}}`}},
		"StartMessageMoveTask": {{200, `{"TaskHandle":"eyJ0YXNrSWQiOiIxIn0="}`}, {400, `{"__type":"com.amazonaws.sqs#ResourceNotFoundException","message":"The resource that you specified for the SourceArn parameter doesn't exist."}`}},
		"ListMessageMoveTasks": {{200, `{"Results":[{"TaskHandle":"eyJ0YXNrSWQiOiIxIn0=","Status":"RUNNING","SourceArn":"` + arn + `","DestinationArn":"` + dest + `","MaxNumberOfMessagesPerSecond":50,"ApproximateNumberOfMessagesMoved":7,"ApproximateNumberOfMessagesToMove":30,"StartedTimestamp":1700000000000}]}`}},
		"CancelMessageMoveTask": {{200, `{"ApproximateNumberOfMessagesMoved":9}`},
			{400, `{"__type":"com.amazonaws.sqs#ResourceNotFoundException","message":"The task is not running."}`}},
	})
	ctx := context.Background()
	h, err := q.StartMoveTask(ctx, dlq.MoveOptions{DestinationARN: dest, MaxPerSecond: 50})
	if err != nil || h != "eyJ0YXNrSWQiOiIxIn0=" {
		t.Fatalf("StartMoveTask = %q, %v", h, err)
	}
	if _, err := q.StartMoveTask(ctx, dlq.MoveOptions{}); !errors.Is(err, dlq.ErrQueueNotFound) {
		t.Errorf("StartMoveTask of a missing queue = %v, want ErrQueueNotFound", err)
	}
	tasks, err := q.ListMoveTasks(ctx, 10)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("ListMoveTasks = %v, %v", tasks, err)
	}
	want := dlq.MoveTask{TaskHandle: h, Status: dlq.MoveTaskRunning, SourceARN: arn, DestinationARN: dest, MaxPerSecond: 50,
		Moved: 7, ToMove: 30, StartedAt: time.UnixMilli(1700000000000).UTC()}
	if tasks[0] != want {
		t.Errorf("task = %+v, want %+v", tasks[0], want)
	}
	if n, err := q.CancelMoveTask(ctx, h); err != nil || n != 9 {
		t.Errorf("CancelMoveTask = %d, %v", n, err)
	}
	if _, err := q.CancelMoveTask(ctx, h); !errors.Is(err, dlq.ErrNoRunningTask) {
		t.Errorf("CancelMoveTask of a stopped task = %v, want ErrNoRunningTask", err)
	}
	// The requests as SQS documents them; the ARN was looked up once.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	checks := []struct {
		name      string
		got, want any
	}{
		{"ARN lookups", len(rec.requests["GetQueueAttributes"]), 1},
		{"start source", rec.requests["StartMessageMoveTask"][0]["SourceArn"], arn},
		{"start destination", rec.requests["StartMessageMoveTask"][0]["DestinationArn"], dest},
		{"start rate", rec.requests["StartMessageMoveTask"][0]["MaxNumberOfMessagesPerSecond"], 50.0},
		{"start without destination", rec.requests["StartMessageMoveTask"][1]["DestinationArn"], nil},
		{"list source", rec.requests["ListMessageMoveTasks"][0]["SourceArn"], arn},
		{"list max", rec.requests["ListMessageMoveTasks"][0]["MaxResults"], 10.0},
		{"cancel handle", rec.requests["CancelMessageMoveTask"][0]["TaskHandle"], h},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestBatchRetries checks that batch entries SQS failed on its side are retried, and that the sender's
// faults are reported at once.
func TestBatchRetries(t *testing.T) {
	t.Parallel()
	q, rec := recordedQueue(t, map[string][]answer{
		"SendMessageBatch": {
			{200, `{"Successful":[{"Id":"0","MessageId":"m0","MD5OfMessageBody":"0cc175b9c0f1b6a831c399e269772661"}],"Failed":[{"Id":"1","SenderFault":false,"Code":"InternalError","Message":"try again"},{"Id":"2","SenderFault":true,"Code":"InvalidMessageContents","Message":"bad"}]}`},
			{200, `{"Successful":[{"Id":"1","MessageId":"m1","MD5OfMessageBody":"92eb5ffee6ae2fec3ad71c777531578f"}],"Failed":[]}`},
		},
	})
	ids, err := q.SendBatch(context.Background(), []dlq.Outgoing{{Body: []byte("a")}, {Body: []byte("b")}, {Body: []byte("c")}})
	var be *dlq.BatchError
	if !errors.As(err, &be) || be.Failed(0) || be.Failed(1) || !be.Failed(2) || !errors.Is(err, dlq.ErrInvalidMessage) {
		t.Fatalf("SendBatch error = %v, want entry 2 alone failed as invalid", err)
	}
	if strings.Join(ids, ",") != "m0,m1," {
		t.Errorf("ids = %q", ids)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if calls := rec.requests["SendMessageBatch"]; len(calls) != 2 || len(calls[1]["Entries"].([]any)) != 1 {
		t.Errorf("calls = %v, want a retry of entry 1 alone", calls)
	}
}
