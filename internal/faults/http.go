package faults

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// FaultHeader is the header of a response the transport synthesized, naming the Point that produced it, so
// that a captured exchange shows the throttle was injected rather than real.
const FaultHeader = "X-Sdp-Fault"

// service is an AWS service the transport knows how to fault, and how it speaks. Kinesis (awsJson1_1),
// DynamoDB and SQS (both awsJson1_0) are all JSON protocols in the SDK versions this module uses: the
// operation is named by the X-Amz-Target header and an error by the body's "__type".
type service struct {
	// targetPrefix starts the X-Amz-Target of the service's operations.
	targetPrefix string
	// contentType is the protocol's media type.
	contentType string
	throttle    Point
	// timeout is the point of a lost answer; "" when the service has none.
	timeout Point
	// errorType is the "__type" of the throttle error, as the service writes it.
	errorType string
	message   string
	// queryError is the X-Amzn-Query-Error header SQS adds for clients of its older query protocol: the SDK
	// takes the error code from it ("RequestThrottled", one of the standard retryer's throttle codes).
	queryError string
}

// services are the services HTTPClient faults, matched by X-Amz-Target.
func services() []service {
	return []service{
		{targetPrefix: "Kinesis_20131202.", contentType: "application/x-amz-json-1.1",
			throttle: KinesisThrottle, timeout: KinesisTimeout,
			errorType: "ProvisionedThroughputExceededException",
			message:   "Rate exceeded for stream (injected fault)"},
		{targetPrefix: "DynamoDB_20120810.", contentType: "application/x-amz-json-1.0",
			throttle: TableThrottle, timeout: TableTimeout,
			errorType: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
			message: "The level of configured provisioned throughput for the table was exceeded. " +
				"Consider increasing your provisioning level with the UpdateTable API. (injected fault)"},
		{targetPrefix: "AmazonSQS.", contentType: "application/x-amz-json-1.0",
			throttle: QueueThrottle, errorType: "com.amazonaws.sqs#ThrottlingException",
			message: "Rate exceeded (injected fault)", queryError: "RequestThrottled;Sender"},
	}
}

// HTTPClient wraps next, the HTTP client of an AWS SDK client, with the transport faults, so that the real
// adapters and the SDK's retryer meet throttles and lost answers as AWS produces them:
//
//   - A throttle (kinesis.throttle on every Kinesis operation, table.throttle, queue.throttle) does not send
//     the request and answers HTTP 400 in the service's protocol, with the error code the SDK's standard
//     retryer treats as a throttle (ProvisionedThroughputExceededException; RequestThrottled for SQS) and the
//     header X-Sdp-Fault naming the point.
//   - A timeout (kinesis.timeout, table.timeout) sends the request, reads and discards the answer, and
//     returns a *url.Error around a *net.OpError whose Timeout() is true, as an HTTP client does when a read
//     times out. The SDK retries it, so a write that happened is sent again: the case that makes idempotency
//     matter.
//
// Requests to other services pass through untouched. A nil Injector returns next itself; a nil next means the
// SDK's default client.
func (in *Injector) HTTPClient(next aws.HTTPClient) aws.HTTPClient {
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	if in == nil {
		return next
	}
	return &httpClient{in: in, next: next}
}

// httpClient is the faulting transport HTTPClient returns.
type httpClient struct {
	in   *Injector
	next aws.HTTPClient
}

// Do sends req through the faults of its service.
func (c *httpClient) Do(req *http.Request) (*http.Response, error) {
	target := req.Header.Get("X-Amz-Target")
	var svc *service
	for _, s := range services() {
		if strings.HasPrefix(target, s.targetPrefix) {
			svc = &s
			break
		}
	}
	if svc == nil {
		return c.next.Do(req)
	}
	if c.in.Roll(svc.throttle) {
		// As a transport must, close the body it will not send.
		if req.Body != nil {
			req.Body.Close()
		}
		return svc.throttled(req), nil
	}
	resp, err := c.next.Do(req)
	if err != nil || svc.timeout == "" || !c.in.Roll(svc.timeout) {
		return resp, err
	}
	// The service applied the call; only its answer is lost.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: &net.OpError{Op: "read", Net: "tcp",
		Err: &timeoutError{point: svc.timeout}}}
}

// throttled synthesizes the service's throttle answer to req.
func (s *service) throttled(req *http.Request) *http.Response {
	body := fmt.Sprintf(`{"__type":%s,"message":%s}`, strconv.Quote(s.errorType), strconv.Quote(s.message))
	h := http.Header{}
	h.Set("Content-Type", s.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-RequestId", "sdp-injected-"+string(s.throttle))
	h.Set(FaultHeader, string(s.throttle))
	if s.queryError != "" {
		h.Set("X-Amzn-Query-Error", s.queryError)
	}
	return &http.Response{
		Status:        "400 Bad Request",
		StatusCode:    http.StatusBadRequest,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// timeoutError is the net.Error of an answer lost to a timeout fault.
type timeoutError struct{ point Point }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("i/o timeout (%s %s)", ErrInjected, e.point)
}

// Timeout reports true: the SDK's retryer, like any HTTP caller, classifies the error by it.
func (e *timeoutError) Timeout() bool { return true }

// Temporary reports true, as the standard library's read timeouts do.
func (e *timeoutError) Temporary() bool { return true }

// Unwrap lets errors.Is find ErrInjected.
func (e *timeoutError) Unwrap() error { return ErrInjected }

var _ net.Error = (*timeoutError)(nil)
