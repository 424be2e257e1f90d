//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow"
)

// The Runtime Interface Emulator: the Lambda Runtime API and Invoke endpoint that AWS ships in its base
// images, run here as a plain process in front of a host build of the bootstrap.
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	// invokePath is where the emulator takes invocations (the Lambda Invoke API of one function).
	invokePath = "/2015-03-31/functions/function/invocations"
)

// Bounds of the waits of these tests.
const (
	installTimeout = 5 * time.Minute
	buildTimeout   = 5 * time.Minute
	startTimeout   = 15 * time.Second
	invokeTimeout  = 60 * time.Second
	// functionTimeout is the function timeout the emulator enforces, in seconds.
	functionTimeout = "30"
)

// TestRIE builds the bootstrap for this machine and invokes each function through the Runtime Interface
// Emulator with real event payloads, as Lambda would. Under make test (SDP_REQUIRE_EMULATORS set) an
// emulator that cannot be installed fails the test; otherwise the test is skipped.
func TestRIE(t *testing.T) {
	t.Parallel()
	rie := installRIE(t)
	bootstrap := buildBootstrap(t)

	tests := []struct {
		name    string
		handler string
		// setup starts what the function calls and returns its settings.
		setup   func(t *testing.T) map[string]string
		payload []byte
		// check checks the emulator's answer, and what the function did; env is what setup returned.
		check func(t *testing.T, fn *function, env map[string]string, status int, body []byte)
	}{
		{
			name:    "consumer reports the records the workflow failed",
			handler: nameConsumer,
			setup: func(t *testing.T) map[string]string {
				srv := newFakeSFN(t)
				t.Cleanup(func() { srv.checkRequests(t) })
				return map[string]string{envWorkflowARN: testWorkflowARN, envSFNEndpoint: srv.URL()}
			},
			payload: readFixture(t, kinesisFixture),
			check: func(t *testing.T, fn *function, _ map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				checkConsumerResponse(t, body)
				fn.waitOutput(t, `"PartialFailures":`)
				m := checkFunctionOutput(t, fn.output())
				if m["BatchSize"] != 3 || m["PartialFailures"] != 2 {
					t.Errorf("EMF BatchSize %v and PartialFailures %v, want 3 and 2", m["BatchSize"], m["PartialFailures"])
				}
			},
		},
		{
			name:    "enrich curates a batch and reports its failures",
			handler: nameEnrich,
			setup: func(*testing.T) map[string]string {
				return map[string]string{envProcessingRules: testRules, envReferenceData: testReference}
			},
			payload: readFixture(t, enrichFixture),
			check: func(t *testing.T, fn *function, _ map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				checkEnrichOutput(t, body)
			},
		},
		{
			name:    "enrich refuses a payload that is not a batch",
			handler: nameEnrich,
			setup:   func(*testing.T) map[string]string { return nil },
			payload: []byte(`{"items": "none"}`),
			check: func(t *testing.T, fn *function, _ map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				var fe struct{ ErrorMessage, ErrorType string }
				if err := json.Unmarshal(body, &fe); err != nil || fe.ErrorType == "" ||
					!strings.Contains(fe.ErrorMessage, "the payload is not a batch") {
					t.Errorf("answer %s (%v), want a function error saying the payload is not a batch", body, err)
				}
			},
		},
		{
			name:    "ingest writes a direct invocation's events to Kinesis",
			handler: nameIngest,
			setup:   streamSetup,
			payload: readRepoFile(t, sampleEvents),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				var resp ingest.Response
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatalf("answer %s is not an ingest response: %v", body, err)
				}
				if want := len(sampleKeys(t)); resp.Accepted != want || resp.Rejected != 0 || len(resp.Errors) != 0 {
					t.Fatalf("answer %s, want %d accepted and none rejected", body, want)
				}
				checkStream(t, emulator.Require(t, emulator.KinesisLocal), env[envEventStream])
				// After the invocation the function wrote its metrics as Embedded Metric Format.
				fn.waitOutput(t, `"EventsAccepted":`)
				if got := checkFunctionOutput(t, fn.output())["EventsAccepted"]; got != float64(len(sampleKeys(t))) {
					t.Errorf("EMF EventsAccepted = %v, want %d", got, len(sampleKeys(t)))
				}
			},
		},
		{
			name:    "ingest answers an API Gateway HTTP API request",
			handler: nameIngest,
			setup:   streamSetup,
			payload: readRepoFile(t, apiGatewayEvent),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatalf("answer %s is not an API Gateway response: %v", body, err)
				}
				// Every event of the fixture is valid and the stream takes them all: 202, not 207.
				if resp.StatusCode != http.StatusAccepted || resp.Headers["Content-Type"] != "application/json" {
					t.Fatalf("answer %s, want status 202 with a JSON body", body)
				}
				var ir ingest.Response
				if err := json.Unmarshal([]byte(resp.Body), &ir); err != nil {
					t.Fatalf("body %q is not an ingest response: %v", resp.Body, err)
				}
				if want := len(sampleKeys(t)); ir.Accepted != want || ir.Rejected != 0 {
					t.Fatalf("body %s, want %d accepted and none rejected", resp.Body, want)
				}
				checkStream(t, emulator.Require(t, emulator.KinesisLocal), env[envEventStream])
			},
		},
		{
			name:    "persist writes curated events to DynamoDB",
			handler: namePersist,
			setup:   func(t *testing.T) map[string]string { return curatedSetup(t, true) },
			payload: persistPayload(t),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				if string(body) != `{"written":2}` {
					t.Fatalf("answer %s, want {\"written\":2}", body)
				}
				checkCurated(t, env[envCuratedTable])
			},
		},
		{
			name:    "persist reports a missing table as the store unavailable",
			handler: namePersist,
			setup:   func(t *testing.T) map[string]string { return curatedSetup(t, false) },
			payload: persistPayload(t),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				typ, msg := functionError(t, status, body)
				if typ != workflow.ErrorTypeStoreUnavailable || !strings.Contains(msg, env[envCuratedTable]) {
					t.Errorf("error %s: %s; want %s naming the table", typ, msg, workflow.ErrorTypeStoreUnavailable)
				}
			},
		},
		{
			name:    "analytics counts each fact once",
			handler: nameAnalytics,
			setup:   func(t *testing.T) map[string]string { return aggregatesSetup(t, true) },
			payload: factsPayload(t),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				wantStatus(t, status, body, http.StatusOK)
				if string(body) != `{"applied":3,"duplicates":0}` {
					t.Fatalf("first answer %s, want 3 applied", body)
				}
				// The same batch again (a retried or replayed execution) counts nothing.
				status, body = fn.invoke(t, factsPayload(t))
				wantStatus(t, status, body, http.StatusOK)
				if string(body) != `{"applied":0,"duplicates":3}` {
					t.Fatalf("second answer %s, want 3 duplicates", body)
				}
				checkAggregates(t, env[envAggregatesTable])
			},
		},
		{
			name:    "analytics reports a missing table as the store unavailable",
			handler: nameAnalytics,
			setup:   func(t *testing.T) map[string]string { return aggregatesSetup(t, false) },
			payload: factsPayload(t),
			check: func(t *testing.T, fn *function, env map[string]string, status int, body []byte) {
				typ, msg := functionError(t, status, body)
				if typ != analytics.ErrorTypeStoreUnavailable || !strings.Contains(msg, env[envAggregatesTable]) {
					t.Errorf("error %s: %s; want %s naming the table", typ, msg, analytics.ErrorTypeStoreUnavailable)
				}
			},
		},
		{
			name:    "consumer without its workflow fails at init",
			handler: nameConsumer,
			setup:   func(*testing.T) map[string]string { return nil },
			payload: readFixture(t, kinesisFixture),
			check: func(t *testing.T, fn *function, _ map[string]string, status int, body []byte) {
				// The emulator answers 502 with no body when the runtime exits during init.
				wantStatus(t, status, body, http.StatusBadGateway)
				fn.waitOutput(t, `"message":"init failed","handler":"consumer","error":"the consumer function needs WORKFLOW_ARN`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.setup(t)
			fn := startRIE(t, rie, bootstrap, tt.handler, env)
			status, body := fn.invoke(t, tt.payload)
			tt.check(t, fn, env, status, body)
		})
	}
}

// checkFunctionOutput checks the function's lines in out (the JSON ones; the emulator's own lines are text):
// each is a JSON object, either a log line with a timestamp, a level and a message, or a valid Embedded Metric
// Format line. It returns the sum of each metric's values over the EMF lines.
func checkFunctionOutput(t *testing.T, out string) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("function output line is not JSON (%v): %s", err, line)
			continue
		}
		if _, ok := m["_aws"]; !ok {
			if m["timestamp"] == nil || m["level"] == nil || m["message"] == nil {
				t.Errorf("log line without timestamp, level or message: %s", line)
			}
			continue
		}
		if err := telemetry.ValidEMF([]byte(line)); err != nil {
			t.Errorf("invalid EMF line (%v): %s", err, line)
			continue
		}
		for _, d := range m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			for _, metric := range d.(map[string]any)["Metrics"].([]any) {
				name := metric.(map[string]any)["Name"].(string)
				switch v := m[name].(type) {
				case float64:
					sums[name] += v
				case []any:
					for _, x := range v {
						sums[name] += x.(float64)
					}
				}
			}
		}
	}
	return sums
}

// wantStatus checks the HTTP status of an answer.
func wantStatus(t *testing.T, status int, body []byte, want int) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d (%s), want %d", status, body, want)
	}
}

// unavailable fails the test under make test and skips it otherwise.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(emulator.RequireEnv) != "" {
		t.Fatal(msg)
	}
	t.Skipf("%s; `make test` (%s=1) requires it", msg, emulator.RequireEnv)
}

// hostEnv is the environment of a go command building for this machine, whatever GOOS and GOARCH the
// caller's environment sets (the last value of a variable wins).
func hostEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{"GOOS=" + runtime.GOOS, "GOARCH=" + runtime.GOARCH,
		"CGO_ENABLED=0", "GOFLAGS="}, extra...)...)
}

// installRIE returns the path of the emulator, installed with go install into a temporary GOBIN and then
// kept in the user cache directory, so that later runs reuse it.
func installRIE(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	parent := filepath.Join(cache, "sdp", "aws-lambda-rie")
	bin := filepath.Join(parent, rieVersion, "aws-lambda-rie")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "installing the Runtime Interface Emulator: no go command: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		unavailable(t, "installing the Runtime Interface Emulator: %v", err)
	}
	// The temporary GOBIN is beside the final place, so that the rename is atomic and a concurrent run
	// never sees a partly written binary.
	tmp, err := os.MkdirTemp(parent, "install-")
	if err != nil {
		unavailable(t, "installing the Runtime Interface Emulator: %v", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(t.Context(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "install", rieModule+"@"+rieVersion)
	cmd.Dir = tmp
	cmd.Env = hostEnv("GOBIN=" + tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, "go install %s@%s: %v\n%s", rieModule, rieVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), bin); err != nil {
		unavailable(t, "installing the Runtime Interface Emulator: %v", err)
	}
	return bin
}

// buildBootstrap builds the bootstrap for this machine (linux, the host's architecture) with the tags of
// `make lambda`, and returns its path.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "building the bootstrap: no go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, ".")
	cmd.Env = hostEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the bootstrap: %v\n%s", err, b)
	}
	return out
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return addr
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a process's output copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// function is one function running under the emulator.
type function struct {
	url string
	out *lockedBuffer
}

// output returns what the emulator and the function wrote so far.
func (f *function) output() string { return f.out.String() }

// waitOutput waits until the emulator's or the function's output contains s: the function writes to its
// own copy of the output pipe, so its lines may arrive after the emulator's answer.
func (f *function) waitOutput(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(f.output(), s) {
		select {
		case <-deadline.C:
			t.Fatalf("output has no %q after %v", s, startTimeout)
		case <-tick.C:
		}
	}
}

// startRIE starts the emulator in front of bootstrap as the function handler, with the settings env, and
// waits until it takes invocations. The emulator is killed when the test ends; the bootstrap, which the
// emulator starts in a process group of its own, then exits by itself: its request for the next invocation
// fails once the emulator's Runtime API is gone, and that ends lambda.Start. The emulator's ports are free
// when chosen; when another process binds one first, the emulator exits, and it is started again on others.
func startRIE(t *testing.T, rie, bootstrap, handler string, env map[string]string) *function {
	t.Helper()
	for attempt := 1; ; attempt++ {
		fn, taken := tryRIE(t, rie, bootstrap, handler, env)
		if fn != nil {
			return fn
		}
		if attempt == 3 {
			t.Fatalf("emulator could not bind its ports in 3 attempts:\n%s", taken)
		}
	}
}

// tryRIE is one attempt of startRIE: it returns the function, or the emulator's output when the emulator
// exited because another process holds a port it was given.
func tryRIE(t *testing.T, rie, bootstrap, handler string, env map[string]string) (*function, string) {
	t.Helper()
	addr, apiAddr := freeAddr(t), freeAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	home := t.TempDir()
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr,
		"--log-level", "warn", bootstrap)
	// The function sees the emulator's environment: only what the test sets, so that no AWS configuration of
	// this machine plays a part.
	cmd.Env = []string{
		"HOME=" + home,
		envHandler + "=" + handler,
		"AWS_LAMBDA_FUNCTION_NAME=" + handler,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + functionTimeout,
		"AWS_REGION=" + testRegion,
		"AWS_ACCESS_KEY_ID=" + testAccessKey,
		"AWS_SECRET_ACCESS_KEY=secret",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rie, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("emulator %d did not exit after SIGKILL", cmd.Process.Pid)
		}
	})

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", out.String())
		}
	})

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A connection alone does not tell: the emulator must be the one listening.
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			if emulator.Listens(cmd.Process.Pid, port) {
				return &function{url: "http://" + addr + invokePath, out: out}, ""
			}
		}
		select {
		case err := <-exited:
			exited <- err
			if emulator.AddressInUse(out.String()) {
				return nil, out.String()
			}
			t.Fatalf("emulator exited before listening: %v\n%s", err, out.String())
		case <-deadline.C:
			t.Fatalf("emulator not listening on %s after %v\n%s", addr, startTimeout, out.String())
		case <-tick.C:
		}
	}
}

// invoke posts payload to the function and returns the HTTP status and body of the answer.
func (f *function) invoke(t *testing.T, payload []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), invokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("invoke: no answer within %v\n%s", invokeTimeout, f.output())
		}
		t.Fatalf("invoke: %v\n%s", err, f.output())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke: reading the answer: %v", err)
	}
	return resp.StatusCode, body
}
