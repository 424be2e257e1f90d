package faults_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/internal/faults"
)

// TestHTTPClientClassifies sends requests of each service (by X-Amz-Target) through a faulting client with
// every point at probability 1 and checks who answered: the synthesized throttle, the lost answer, or the
// server itself.
func TestHTTPClientClassifies(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		spec       faults.Spec
		target     string
		wantFault  string // X-Sdp-Fault of a synthesized answer
		wantType   string // its __type
		wantQuery  string // its X-Amzn-Query-Error
		wantTime   bool   // the answer is lost to a timeout
		wantServed int64  // requests that reached the server
	}{
		{name: "kinesis put throttled", spec: faults.Spec{faults.KinesisThrottle: 1}, target: "Kinesis_20131202.PutRecords",
			wantFault: "kinesis.throttle", wantType: "ProvisionedThroughputExceededException"},
		{name: "kinesis read throttled", spec: faults.Spec{faults.KinesisThrottle: 1}, target: "Kinesis_20131202.GetRecords",
			wantFault: "kinesis.throttle", wantType: "ProvisionedThroughputExceededException"},
		{name: "kinesis timeout", spec: faults.Spec{faults.KinesisTimeout: 1}, target: "Kinesis_20131202.PutRecords",
			wantTime: true, wantServed: 1},
		{name: "table throttled", spec: faults.Spec{faults.TableThrottle: 1}, target: "DynamoDB_20120810.PutItem",
			wantFault: "table.throttle", wantType: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"},
		{name: "table timeout", spec: faults.Spec{faults.TableTimeout: 1}, target: "DynamoDB_20120810.TransactWriteItems",
			wantTime: true, wantServed: 1},
		{name: "queue throttled", spec: faults.Spec{faults.QueueThrottle: 1}, target: "AmazonSQS.SendMessage",
			wantFault: "queue.throttle", wantType: "com.amazonaws.sqs#ThrottlingException", wantQuery: "RequestThrottled;Sender"},
		{name: "table fault spares kinesis", spec: faults.Spec{faults.TableThrottle: 1, faults.TableTimeout: 1},
			target: "Kinesis_20131202.PutRecords", wantServed: 1},
		{name: "other service untouched", spec: faults.Spec{faults.KinesisThrottle: 1, faults.TableTimeout: 1},
			target: "AWSStepFunctions.StartSyncExecution", wantServed: 1},
		{name: "no target untouched", spec: faults.Spec{faults.QueueThrottle: 1}, target: "", wantServed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases count the server's requests.
			before := served.Load()
			c := faults.New(tt.spec, 1).HTTPClient(srv.Client())
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"StreamName":"s"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := c.Do(req)
			if got := served.Load() - before; got != tt.wantServed {
				t.Errorf("server got %d requests, want %d", got, tt.wantServed)
			}
			if tt.wantTime {
				var netErr net.Error
				if !errors.As(err, &netErr) || !netErr.Timeout() {
					t.Fatalf("Do error = %v, want a net.Error that timed out", err)
				}
				if !errors.Is(err, faults.ErrInjected) {
					t.Errorf("Do error = %v does not wrap ErrInjected", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get(faults.FaultHeader); got != tt.wantFault {
				t.Fatalf("%s = %q, want %q", faults.FaultHeader, got, tt.wantFault)
			}
			if tt.wantFault == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("passed-through status = %d", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if body.Type != tt.wantType || body.Message == "" {
				t.Errorf("body = %+v, want __type %q and a message", body, tt.wantType)
			}
			if got := resp.Header.Get("X-Amzn-Query-Error"); got != tt.wantQuery {
				t.Errorf("X-Amzn-Query-Error = %q, want %q", got, tt.wantQuery)
			}
		})
	}
}

// TestHTTPClientNil checks that a nil Injector gives back the client it wraps.
func TestHTTPClientNil(t *testing.T) {
	t.Parallel()
	next := &http.Client{}
	var in *faults.Injector
	if got := in.HTTPClient(next); got != next {
		t.Fatalf("nil Injector's HTTPClient = %T, want the client itself", got)
	}
}

// fastRetryer is the SDK's standard retryer with its delays shortened to keep the tests quick, and no retry
// quota, so that many throttles in a row do not exhaust it.
func fastRetryer(attempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		o.RateLimiter = ratelimit.None
	})
}

// errorCode returns the API error code of err, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// dynamoClients returns a DynamoDB client that goes through in's faults with the retryer, a clean client of
// the same emulator, and a fresh table (key "id") for the test.
func dynamoClients(t *testing.T, in *faults.Injector, retryer aws.Retryer) (faulty, clean *dynamodb.Client, table string) {
	t.Helper()
	srv := emulator.Require(t, emulator.Dynalite)
	clean = dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	faulty = dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.HTTPClient = in.HTTPClient(nil)
		o.Retryer = retryer
	})
	table = "faults-" + rand.Text()[:10]
	_, err := clean.CreateTable(emulator.Context(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	w := dynamodb.NewTableExistsWaiter(clean, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(emulator.Context(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("wait for table: %v", err)
	}
	return faulty, clean, table
}

// put writes an item with the id.
func put(ctx context.Context, c *dynamodb.Client, table, id string) error {
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
	return err
}

// exists reports whether the table has the item.
func exists(t *testing.T, c *dynamodb.Client, table, id string) bool {
	t.Helper()
	out, err := c.GetItem(emulator.Context(t), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return out.Item != nil
}

// TestHTTPClientDynamoDB runs the table faults against dynalite with the real SDK client.
func TestHTTPClientDynamoDB(t *testing.T) {
	t.Parallel()
	t.Run("throttle, no retries", func(t *testing.T) {
		t.Parallel()
		in := faults.New(faults.Spec{faults.TableThrottle: 1}, 1)
		faulty, clean, table := dynamoClients(t, in, fastRetryer(1))
		err := put(emulator.Context(t), faulty, table, "a")
		if code := errorCode(err); code != "ProvisionedThroughputExceededException" {
			t.Fatalf("PutItem error = %v (code %q), want ProvisionedThroughputExceededException", err, code)
		}
		var typed *ddbtypes.ProvisionedThroughputExceededException
		if !errors.As(err, &typed) {
			t.Errorf("PutItem error = %T, want the SDK's modeled ProvisionedThroughputExceededException", err)
		}
		if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			t.Error("the standard retryer does not classify the injected throttle as a throttle")
		}
		if exists(t, clean, table, "a") {
			t.Error("a throttled PutItem wrote its item")
		}
	})
	t.Run("throttle half the time, standard retryer", func(t *testing.T) {
		t.Parallel()
		in := faults.New(faults.Spec{faults.TableThrottle: 0.5}, 2)
		faulty, clean, table := dynamoClients(t, in, fastRetryer(12))
		ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		for _, id := range ids {
			if err := put(emulator.Context(t), faulty, table, id); err != nil {
				t.Fatalf("PutItem %s through retries: %v", id, err)
			}
		}
		for _, id := range ids {
			if !exists(t, clean, table, id) {
				t.Errorf("item %s is missing", id)
			}
		}
		if in.Injected()[faults.TableThrottle] == 0 {
			t.Error("no throttle was injected at probability 0.5")
		}
	})
	t.Run("timeout applies the write", func(t *testing.T) {
		t.Parallel()
		in := faults.New(faults.Spec{faults.TableTimeout: 1}, 3)
		faulty, clean, table := dynamoClients(t, in, fastRetryer(1))
		err := put(emulator.Context(t), faulty, table, "a")
		if err == nil {
			t.Fatal("PutItem whose answer was lost succeeded")
		}
		if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Errorf("the standard retryer does not retry the lost answer: %v", err)
		}
		if !exists(t, clean, table, "a") {
			t.Error("the PutItem whose answer was lost did not write its item")
		}
	})
}

// kinesisStream creates a one-shard stream on kinesis-local and returns a clean client and its name.
func kinesisStream(t *testing.T) (*emulator.Server, *kinesis.Client, string) {
	t.Helper()
	srv := emulator.Require(t, emulator.KinesisLocal)
	clean := kinesis.NewFromConfig(srv.Config(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	name := "faults-" + rand.Text()[:10]
	ctx := emulator.Context(t)
	if _, err := clean.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(clean, func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for stream: %v", err)
	}
	return srv, clean, name
}

// streamLen counts the records of the stream's only shard.
func streamLen(t *testing.T, c *kinesis.Client, stream string) int {
	t.Helper()
	ctx := emulator.Context(t)
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) != 1 {
		t.Fatalf("list shards: %v", err)
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
		ShardId: shards.Shards[0].ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("get records: %v", err)
	}
	return len(out.Records)
}

// TestHTTPClientKinesis runs the Kinesis faults against kinesis-local with the real SDK client.
func TestHTTPClientKinesis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     faults.Spec
		wantCode string // the PutRecords error's code; "" for a lost answer
		wantLen  int    // records in the stream afterwards
	}{
		{name: "throttle", spec: faults.Spec{faults.KinesisThrottle: 1}, wantCode: "ProvisionedThroughputExceededException"},
		{name: "timeout", spec: faults.Spec{faults.KinesisTimeout: 1}, wantLen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, clean, stream := kinesisStream(t)
			in := faults.New(tt.spec, 4)
			faulty := kinesis.NewFromConfig(srv.Config(), func(o *kinesis.Options) {
				o.BaseEndpoint = aws.String(srv.Endpoint)
				o.HTTPClient = in.HTTPClient(nil)
				o.Retryer = fastRetryer(1)
			})
			_, err := faulty.PutRecords(emulator.Context(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream),
				Records: []kintypes.PutRecordsRequestEntry{
					{PartitionKey: aws.String("k1"), Data: []byte("one")},
					{PartitionKey: aws.String("k2"), Data: []byte("two")},
				}})
			if err == nil {
				t.Fatal("PutRecords with a fault at probability 1 succeeded")
			}
			if tt.wantCode != "" {
				if code := errorCode(err); code != tt.wantCode {
					t.Fatalf("PutRecords error = %v (code %q), want %s", err, code, tt.wantCode)
				}
				var typed *kintypes.ProvisionedThroughputExceededException
				if !errors.As(err, &typed) {
					t.Errorf("PutRecords error = %T, want the SDK's modeled exception", err)
				}
			}
			if got := streamLen(t, clean, stream); got != tt.wantLen {
				t.Errorf("stream has %d records, want %d", got, tt.wantLen)
			}
		})
	}
}

// TestHTTPClientSQS checks against moto that an injected SQS throttle is one the standard retryer retries,
// and that with retries a message gets through.
func TestHTTPClientSQS(t *testing.T) {
	t.Parallel()
	srv := emulator.Require(t, emulator.Moto)
	clean := sqs.NewFromConfig(srv.Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	ctx := emulator.Context(t)
	q, err := clean.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("faults-" + rand.Text()[:10])})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	tests := []struct {
		name      string
		p         float64
		attempts  int
		wantErr   bool
		wantTries int64 // injected throttles; -1 when it depends on the dice
	}{
		{name: "always throttled", p: 1, attempts: 3, wantErr: true, wantTries: 3},
		{name: "throttled half the time", p: 0.5, attempts: 12, wantTries: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := faults.New(faults.Spec{faults.QueueThrottle: tt.p}, 5)
			faulty := sqs.NewFromConfig(srv.Config(), func(o *sqs.Options) {
				o.BaseEndpoint = aws.String(srv.Endpoint)
				o.HTTPClient = in.HTTPClient(nil)
				o.Retryer = fastRetryer(tt.attempts)
			})
			body := tt.name
			_, err := faulty.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)})
			if tt.wantTries >= 0 && in.Injected()[faults.QueueThrottle] != tt.wantTries {
				t.Errorf("throttles injected = %d, want %d (one per attempt)", in.Injected()[faults.QueueThrottle], tt.wantTries)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("SendMessage always throttled succeeded")
				}
				if code := errorCode(err); code != "RequestThrottled" {
					t.Errorf("SendMessage error = %v (code %q), want RequestThrottled", err, code)
				}
				if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
					t.Errorf("the standard retryer does not classify %v as a throttle", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SendMessage through retries: %v", err)
			}
			out, err := clean.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != body {
				t.Errorf("queue holds %d messages, want the one sent", len(out.Messages))
			}
		})
	}
}
