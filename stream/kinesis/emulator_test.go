package kinesis_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/stream/streamtest"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// newClient returns a Kinesis client of the emulator; wrap, when not nil, wraps its HTTP transport.
func newClient(t testing.TB, s *emulator.Server, wrap func(http.RoundTripper) http.RoundTripper) *awskinesis.Client {
	t.Helper()
	cfg := s.Config()
	if wrap != nil {
		// The SDK's own client, so that its settings (CA bundle, timeouts) stay; the wrapper sees each request.
		cfg.HTTPClient = wrappedClient{inner: awshttp.NewBuildableClient(), wrap: wrap}
	}
	return awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
	})
}

// wrappedClient sends requests through a wrapped transport.
type wrappedClient struct {
	inner aws.HTTPClient
	wrap  func(http.RoundTripper) http.RoundTripper
}

func (c wrappedClient) Do(req *http.Request) (*http.Response, error) {
	return c.wrap(doer{c.inner}).RoundTrip(req)
}

// doer adapts an aws.HTTPClient to a RoundTripper.
type doer struct{ c aws.HTTPClient }

func (d doer) RoundTrip(req *http.Request) (*http.Response, error) { return d.c.Do(req) }

// newStream creates a stream with a fresh name and waits until it is active. It returns the stream's name
// and ARN.
func newStream(t testing.TB, c *awskinesis.Client, shards int) (name, arn string) {
	t.Helper()
	ctx := emulator.Context(t)
	name = fmt.Sprintf("test-%d-%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	w := awskinesis.NewStreamExistsWaiter(c, func(o *awskinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("stream %s did not become active: %v", name, err)
	}
	out, err := c.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return name, aws.ToString(out.StreamDescriptionSummary.StreamARN)
}

// contractStream returns the NewStream of the suites on an emulator, addressing the stream by ARN or name.
func contractStream(kind emulator.Kind, byARN bool) streamtest.NewStream {
	return func(t *testing.T) streamtest.Stream {
		s := emulator.Require(t, kind)
		c := newClient(t, s, nil)
		name, arn := newStream(t, c, 3)
		id := name
		if byARN {
			id = arn
		}
		p, err := kinesis.NewProducer(c, id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := kinesis.NewReader(c, id)
		if err != nil {
			t.Fatal(err)
		}
		return streamtest.Stream{Producer: p, Reader: r, Shards: 3}
	}
}

func TestProducerContractKinesisLocal(t *testing.T) {
	streamtest.RunProducer(t, contractStream(emulator.KinesisLocal, true))
}

func TestReaderContractKinesisLocal(t *testing.T) {
	streamtest.RunReader(t, contractStream(emulator.KinesisLocal, true))
}
