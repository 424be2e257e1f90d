package sqs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// QueueAPI is the part of the SQS client CreateQueue uses. *sqs.Client satisfies it.
type QueueAPI interface {
	CreateQueue(ctx context.Context, params *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
}

var _ QueueAPI = (*sqs.Client)(nil)

// CreateQueue creates the standard queue name, as the Queue expects it (messages up to dlq.MaxBodySize, kept
// 14 days, the given default visibility timeout in whole seconds, or SQS's 30 s when 0), plus extra
// attributes (for example "RedrivePolicy" to make it the source of another dead-letter queue, or
// "RedriveAllowPolicy"), and returns its URL. A queue of that name with the same attributes is returned as
// it is; SQS refuses one with different attributes (QueueNameExists). It is meant for emulators and for
// `--create`; the deployed queue comes from the SAM template.
func CreateQueue(ctx context.Context, api QueueAPI, name string, visibility int, extra map[string]string) (string, error) {
	attrs := map[string]string{
		"MaximumMessageSize":     strconv.Itoa(dlq.MaxBodySize),
		"MessageRetentionPeriod": strconv.Itoa(14 * 24 * 3600),
	}
	if visibility > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(visibility)
	}
	for k, v := range extra {
		attrs[k] = v
	}
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("sqs: create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
