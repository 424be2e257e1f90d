package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/analytics"
	adyn "github.com/serverless-data-platform/sdp/analytics/dynamo"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/sqs"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
	"github.com/serverless-data-platform/sdp/workflow/store/dynamo"
)

// curatedTable is the curated table as the stack uses it: the persist function's store, and the read API.
type curatedTable interface {
	workflow.Store
	Get(ctx context.Context, id string) (event.Curated, bool, error)
	Count(ctx context.Context) (int, error)
	Scan(ctx context.Context, fn func(event.Curated) bool) error
}

// deadLetters is the dead-letter queue as the read API shows it: its oldest messages and its depth.
type deadLetters interface {
	List(ctx context.Context, limit int) ([]dlq.Message, error)
	Len(ctx context.Context) (int, error)
}

// awsBackend says where `sdp up --backend aws` finds the AWS resources the local runtime (HTTP front, event
// source mapping, workflow interpreter) runs over.
type awsBackend struct {
	Config aws.Config
	// Endpoint, when set, is the one endpoint of every service (an emulator such as moto); KinesisEndpoint,
	// DynamoDBEndpoint and SQSEndpoint, when set, override it for their service. (The SDK also reads
	// AWS_ENDPOINT_URL_KINESIS and the like from the environment.)
	Endpoint                                       string
	KinesisEndpoint, DynamoDBEndpoint, SQSEndpoint string
	// Stream is the Kinesis stream's name or ARN; CuratedTable and AggregatesTable the DynamoDB tables; Queue
	// the SQS dead-letter queue's name.
	Stream, CuratedTable, AggregatesTable, Queue string
	// StateMachineARN, when set, makes the consumer start the workflow on Step Functions (StartSyncExecution)
	// instead of the local interpreter.
	StateMachineARN string
	// Create makes the stream (with Shards shards), the tables and the queue where they do not exist.
	Create bool
	Shards int
	// Windowing is the aggregates' windowing, the stack's.
	Windowing analytics.Windowing
}

// awsStack is what the AWS backend gives the stack.
type awsStack struct {
	producer  ingest.Producer
	reader    *kinesis.Reader
	streamARN string
	curated   curatedTable
	agg       analytics.Store
	queue     dlq.Queue
	executor  *sfn.Executor
}

// endpoint returns a service's base endpoint: its own when set, else the backend's, else nil (the SDK's).
func (b *awsBackend) endpoint(service string) *string {
	if service != "" {
		return aws.String(service)
	}
	if b.Endpoint == "" {
		return nil
	}
	return aws.String(b.Endpoint)
}

// open builds the AWS adapters, creating the resources first when asked. It reads the stream's shards and
// ARN, so a wrong name or missing credentials fail here rather than in the loops.
func (b *awsBackend) open(ctx context.Context) (*awsStack, error) {
	kc := awskinesis.NewFromConfig(b.Config, func(o *awskinesis.Options) { o.BaseEndpoint = b.endpoint(b.KinesisEndpoint) })
	dc := dynamodb.NewFromConfig(b.Config, func(o *dynamodb.Options) { o.BaseEndpoint = b.endpoint(b.DynamoDBEndpoint) })
	qc := awssqs.NewFromConfig(b.Config, func(o *awssqs.Options) { o.BaseEndpoint = b.endpoint(b.SQSEndpoint) })

	var queueURL string
	if b.Create {
		if err := createStream(ctx, kc, b.Stream, b.Shards); err != nil {
			return nil, err
		}
		if err := dynamo.CreateTable(ctx, dc, b.CuratedTable); err != nil {
			return nil, err
		}
		if err := adyn.CreateTable(ctx, dc, b.AggregatesTable); err != nil {
			return nil, err
		}
		url, err := sqs.CreateQueue(ctx, qc, b.Queue, 0, nil)
		if err != nil {
			return nil, err
		}
		queueURL = url
	} else {
		out, err := qc.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(b.Queue)})
		if err != nil {
			return nil, fmt.Errorf("dead-letter queue %s: %w (create it, or pass --create)", b.Queue, err)
		}
		queueURL = aws.ToString(out.QueueUrl)
	}

	sum, err := kc.DescribeStreamSummary(ctx, streamInput(b.Stream))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w (create it, or pass --create)", b.Stream, err)
	}
	st := &awsStack{streamARN: aws.ToString(sum.StreamDescriptionSummary.StreamARN)}
	if st.producer, err = kinesis.NewProducer(kc, b.Stream); err != nil {
		return nil, err
	}
	if st.reader, err = kinesis.NewReader(kc, b.Stream); err != nil {
		return nil, err
	}
	if _, err := st.reader.LoadShards(ctx); err != nil {
		return nil, err
	}
	st.curated = dynamo.New(dc, b.CuratedTable)
	st.agg = adyn.New(dc, b.AggregatesTable, adyn.WithWindowing(b.Windowing))
	if st.queue, err = sqs.New(qc, queueURL); err != nil {
		return nil, err
	}
	if b.StateMachineARN != "" {
		st.executor = sfn.New(sfn.NewClient(b.Config, b.Endpoint), b.StateMachineARN)
	}
	return st, nil
}

// streamInput names the stream by ARN or by name.
func streamInput(stream string) *awskinesis.DescribeStreamSummaryInput {
	if isARN(stream) {
		return &awskinesis.DescribeStreamSummaryInput{StreamARN: aws.String(stream)}
	}
	return &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)}
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }

// createStream creates the provisioned stream with shards shards unless it exists, and waits until it is
// active.
func createStream(ctx context.Context, kc *awskinesis.Client, name string, shards int) error {
	if isARN(name) {
		return fmt.Errorf("--create needs the stream's name, not its ARN (%s)", name)
	}
	_, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name),
		ShardCount: aws.Int32(int32(max(shards, 1)))})
	var inUse *ktypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	w := awskinesis.NewStreamExistsWaiter(kc, func(o *awskinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("create stream %s: wait until active: %w", name, err)
	}
	return nil
}

// queueCheckpoints keeps the mapping's checkpoints in the local database and sends its dead letters to a
// queue (SQS) first: the two cannot commit together, so a crash between them sends a dead letter again on
// the retry (at least once, as Lambda's on-failure destinations are).
type queueCheckpoints struct {
	local *esm.BoltCheckpoints
	queue dlq.Queue
}

var _ esm.Checkpoints = (*queueCheckpoints)(nil)

func newQueueCheckpoints(db *bolt.DB, q dlq.Queue) *queueCheckpoints {
	return &queueCheckpoints{local: esm.NewBoltCheckpoints(db, nil), queue: q}
}

// Load returns the checkpoint of key.
func (c *queueCheckpoints) Load(ctx context.Context, key string) (string, error) {
	return c.local.Load(ctx, key)
}

// Commit sends the dead letters, then records the checkpoint.
func (c *queueCheckpoints) Commit(ctx context.Context, key, seq string, deadLetters [][]byte) error {
	if len(deadLetters) > 0 {
		batch := make([]dlq.Outgoing, len(deadLetters))
		for i, body := range deadLetters {
			batch[i] = dlq.Outgoing{Body: body}
		}
		if _, err := c.queue.SendBatch(ctx, batch); err != nil {
			return fmt.Errorf("esm: commit checkpoint %s at %s: dead letters to %s: %w", key, seq, c.queue.Name(), err)
		}
	}
	return c.local.Commit(ctx, key, seq, nil)
}

// queueView shows a queue through the read API: Peek for the messages, Depth for their number.
type queueView struct{ q dlq.Queue }

func (v queueView) List(ctx context.Context, limit int) ([]dlq.Message, error) {
	return dlq.Peek(ctx, v.q, limit)
}

func (v queueView) Len(ctx context.Context) (int, error) {
	d, err := v.q.Depth(ctx)
	return d.Total(), err
}
