package sfn_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

// This file holds servers that answer as Step Functions and CloudWatch Logs do (awsJson 1.0 and 1.1), and
// check each request as the real service receives it.

const (
	region     = "us-east-1"
	accessKey  = "AKIDEXAMPLE"
	machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-workflow"
)

// testConfig is an aws.Config with static credentials and a region: nothing is read from the environment
// (so AWS_CA_BUNDLE and shared config files play no part).
func testConfig() aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
	}
}

// noBackoff retries at once, so retry tests need no waiting.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// fastRetryer is the SDK's standard retryer (3 attempts, same retryable errors) without backoff delays.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noBackoff{} })
}

// checkSigned checks the headers every AWS JSON protocol request carries.
func checkSigned(t *testing.T, r *http.Request, service, target, contentType string) {
	t.Helper()
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("X-Amz-Target"); got != target {
		t.Errorf("X-Amz-Target = %q, want %q", got, target)
	}
	if got := r.Header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type = %q, want %q", got, contentType)
	}
	auth := r.Header.Get("Authorization")
	wantScope := "/" + region + "/" + service + "/aws4_request"
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+accessKey+"/") || !strings.Contains(auth, wantScope) ||
		!strings.Contains(auth, "Signature=") {
		t.Errorf("Authorization = %q, want a SigV4 signature with scope %s", auth, wantScope)
	}
	if r.Header.Get("X-Amz-Date") == "" {
		t.Error("no X-Amz-Date header")
	}
}

// reply is one answer of a fake service: a status and a JSON body, or a connection reset when reset is set.
type reply struct {
	status int
	body   string
	reset  bool
}

// sfnServer answers StartSyncExecution with its replies in turn (the last one repeats).
type sfnServer struct {
	t       *testing.T
	srv     *httptest.Server
	replies []reply

	mu       sync.Mutex
	requests []map[string]any
}

func newSFNServer(t *testing.T, replies ...reply) *sfnServer {
	s := &sfnServer{t: t, replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sfnServer) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	checkSigned(t, r, "states", "AWSStepFunctions.StartSyncExecution", "application/x-amz-json-1.0")
	// The SDK puts "sync-" before the host of StartSyncExecution unless the prefix is disabled.
	if want := s.srv.Listener.Addr().String(); r.Host != want {
		t.Errorf("Host = %q, want %q (no sync- prefix)", r.Host, want)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("body %q is not JSON: %v", body, err)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	rep := s.replies[min(len(s.requests), len(s.replies))-1]
	s.mu.Unlock()
	if rep.reset {
		resetConnection(t, w)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "5c1c3b2a-0000-4000-8000-000000000001")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// resetConnection closes the connection with a TCP reset after the request was read: the client cannot
// know whether the service acted on it.
func resetConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	type linger interface{ SetLinger(int) error }
	if l, ok := conn.(linger); ok {
		_ = l.SetLinger(0)
	}
	_ = conn.Close()
}

// calls returns the request bodies received so far.
func (s *sfnServer) calls() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// client returns a Step Functions client of the server, built as production code builds it.
func (s *sfnServer) client() *awssfn.Client {
	return sfn.NewClient(testConfig(), s.srv.URL, func(o *awssfn.Options) { o.Retryer = fastRetryer() })
}

// logsServer answers FilterLogEvents from recorded log events, with the service's paging: a page holds at
// most pageSize events, the first page is empty (as when the service is still searching), and nextToken
// continues a search.
type logsServer struct {
	t         *testing.T
	srv       *httptest.Server
	events    []map[string]any
	pageSize  int
	wantGroup map[string]string // the one log group field the requests must carry
	status    int               // when not 0, every request fails with this status and errBody
	errBody   string

	mu       sync.Mutex
	requests []map[string]any
}

// loadLogEvents reads the recorded FilteredLogEvent objects.
func loadLogEvents(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open("testdata/express-logs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func newLogsServer(t *testing.T, group map[string]string) *logsServer {
	s := &logsServer{t: t, events: loadLogEvents(t), pageSize: 4, wantGroup: group}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// patternTerm is one `$.field = "value"` comparison of a JSON filter pattern.
var patternTerm = regexp.MustCompile(`\$\.(\w+) = "([^"]*)"`)

// matches applies a JSON filter pattern made of equality terms joined by || to a message.
func matches(pattern, message string) bool {
	var m map[string]any
	if !strings.HasPrefix(strings.TrimSpace(pattern), "{") || json.Unmarshal([]byte(message), &m) != nil {
		return false // JSON patterns never match messages that are not JSON objects
	}
	if strings.Contains(pattern, "&&") {
		panic("pattern has &&: the fake only knows ||")
	}
	for _, term := range patternTerm.FindAllStringSubmatch(pattern, -1) {
		if v, ok := m[term[1]].(string); ok && v == term[2] {
			return true
		}
	}
	return false
}

func (s *logsServer) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	checkSigned(t, r, "logs", "Logs_20140328.FilterLogEvents", "application/x-amz-json-1.1")
	var req map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		t.Errorf("body is not JSON: %v", err)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "5c1c3b2a-0000-4000-8000-000000000002")
	if s.status != 0 {
		w.WriteHeader(s.status)
		_, _ = io.WriteString(w, s.errBody)
		return
	}
	for _, k := range []string{"logGroupName", "logGroupIdentifier"} {
		if got, _ := req[k].(string); got != s.wantGroup[k] {
			t.Errorf("%s = %q, want %q", k, got, s.wantGroup[k])
		}
	}
	pattern, _ := req["filterPattern"].(string)
	start, hasStart := int64Field(req, "startTime")
	end, hasEnd := int64Field(req, "endTime")
	var hits []map[string]any
	for _, e := range s.events {
		ts, _ := int64Field(e, "timestamp")
		if (hasStart && ts < start) || (hasEnd && ts > end) || !matches(pattern, e["message"].(string)) {
			continue
		}
		hits = append(hits, e)
	}
	// A search starts with an empty page (offset -1); a token names the offset of the next page.
	offset := -1
	if tok, ok := req["nextToken"].(string); ok {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "token-"))
		if err != nil || !strings.HasPrefix(tok, "token-") || n > len(hits) {
			t.Errorf("unknown nextToken %q", tok)
			n = len(hits)
		}
		offset = n
	}
	page, next := []map[string]any{}, 0
	if offset >= 0 {
		next = min(offset+s.pageSize, len(hits))
		page = hits[offset:next]
	}
	// The last page has no nextToken.
	resp := map[string]any{"events": page, "searchedLogStreams": []any{}}
	if next < len(hits) {
		resp["nextToken"] = "token-" + strconv.Itoa(next)
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func int64Field(m map[string]any, k string) (int64, bool) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := n.Int64()
	return v, err == nil
}

func (s *logsServer) calls() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// client returns a CloudWatch Logs client of the server.
func (s *logsServer) client() *cloudwatchlogs.Client {
	return cloudwatchlogs.NewFromConfig(testConfig(), func(o *cloudwatchlogs.Options) {
		o.BaseEndpoint = aws.String(s.srv.URL)
		o.Retryer = fastRetryer()
	})
}
