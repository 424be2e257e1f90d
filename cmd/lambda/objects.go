package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/objects"
	"github.com/serverless-data-platform/sdp/ingest/objects/s3"
)

// This file builds the adapters of the ingest function's S3 path: the object stores of the buckets its
// events name, and the client it invokes itself with to continue an object.

// newObjectStores returns the S3 stores of any bucket, over one S3 client built from cfg. The SDK applies
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) itself; with such an endpoint (an emulator) the client
// addresses buckets by path, as emulators need.
func newObjectStores(cfg aws.Config, s settings) ingest.ObjectStores {
	var opts []func(*awss3.Options)
	if s.S3Endpoint != "" {
		opts = append(opts, s3.UsePathStyle)
	}
	client := awss3.NewFromConfig(cfg, opts...)
	return func(bucket string) (objects.Store, error) {
		if bucket == "" {
			return nil, fmt.Errorf("the event names no bucket")
		}
		return s3.New(client, bucket), nil
	}
}

// newSelfInvoker returns the client the ingest function invokes itself with (AWS_LAMBDA_FUNCTION_NAME), or
// nil when the function's name is unknown (not running in Lambda). It calls Lambda at s.LambdaEndpoint
// (AWS_ENDPOINT_URL_LAMBDA or AWS_ENDPOINT_URL) when set, and at AWS's endpoint of cfg.Region otherwise.
func newSelfInvoker(cfg aws.Config, s settings) ingest.SelfInvoker {
	if s.FunctionName == "" {
		return nil
	}
	endpoint := s.LambdaEndpoint
	client := awslambda.NewFromConfig(cfg, func(o *awslambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &lambdaInvoker{client: client, hasCreds: cfg.Credentials != nil, function: s.FunctionName}
}

// lambdaInvoker queues invocations of one function through Lambda's Invoke API with InvocationType Event.
type lambdaInvoker struct {
	client *awslambda.Client
	// hasCreds reports whether the configuration has credentials: without them the SDK would send the
	// request unsigned, which Lambda refuses.
	hasCreds bool
	function string
}

// selfInvokeTimeout bounds one Invoke call, retries included.
const selfInvokeTimeout = 10 * time.Second

// InvokeAsync queues an invocation of the function with payload. Lambda answers 202 once it has queued it;
// any other answer, or a function error, is an error naming the function.
func (l *lambdaInvoker) InvokeAsync(ctx context.Context, payload []byte) error {
	if !l.hasCreds {
		return fmt.Errorf("invoking %s: no AWS credentials", l.function)
	}
	ctx, cancel := context.WithTimeout(ctx, selfInvokeTimeout)
	defer cancel()
	out, err := l.client.Invoke(ctx, &awslambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoking %s: %w", l.function, err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("invoking %s: the function failed (%s): %s", l.function, aws.ToString(out.FunctionError),
			strings.TrimSpace(string(out.Payload)))
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invoking %s: Lambda answered %d, want %d (queued)", l.function, out.StatusCode, http.StatusAccepted)
	}
	return nil
}
