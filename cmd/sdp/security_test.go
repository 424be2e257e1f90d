package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/segmentio/encoding/json"
)

const testAPIKey = "k-3f9a1c"

// do sends one request with the given headers and returns the status, the headers and the body.
func do(t *testing.T, method, url string, body []byte, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestAPIKey(t *testing.T) {
	base, _ := startStack(t, stackConfig{APIKey: testAPIKey})
	sample, err := os.ReadFile("../../events/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []json.RawMessage
	if err := json.Unmarshal(sample, &evs); err != nil {
		t.Fatal(err)
	}
	one := []byte(evs[0])
	cookie := map[string]string{"Cookie": apiKeyCookie + "=" + testAPIKey}
	key := map[string]string{"x-api-key": testAPIKey}
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header map[string]string
		want   int
	}{
		{"no key", "GET", "/v1/status", nil, nil, http.StatusUnauthorized},
		{"wrong key", "GET", "/v1/status", nil, map[string]string{"x-api-key": "nope"}, http.StatusUnauthorized},
		{"wrong bearer", "GET", "/v1/status", nil, map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"key as a prefix", "GET", "/v1/status", nil, map[string]string{"x-api-key": testAPIKey + "x"}, http.StatusUnauthorized},
		{"x-api-key", "GET", "/v1/status", nil, key, http.StatusOK},
		{"bearer", "GET", "/v1/status", nil, map[string]string{"Authorization": "Bearer " + testAPIKey}, http.StatusOK},
		{"bearer lower case", "GET", "/v1/status", nil, map[string]string{"Authorization": "bearer " + testAPIKey}, http.StatusOK},
		{"healthz is open", "GET", "/healthz", nil, nil, http.StatusOK},
		{"ingest without key", "POST", "/v1/events", one, nil, http.StatusUnauthorized},
		{"ingest with key", "POST", "/v1/events", one, key, http.StatusAccepted},
		{"ingest with bearer", "POST", "/v1/events", one, map[string]string{"Authorization": "Bearer " + testAPIKey}, http.StatusAccepted},
		{"invoke without key", "POST", "/2015-03-31/functions/analytics/invocations", []byte(`{}`), nil, http.StatusUnauthorized},
		{"async invoke with key", "POST", "/2015-03-31/functions/analytics/invocations", []byte(`{"Records":[]}`),
			map[string]string{"x-api-key": testAPIKey, "X-Amz-Invocation-Type": "Event"}, http.StatusAccepted},
		{"purge without key", "POST", "/v1/dlq/purge", []byte(`{"ids":[]}`), nil, http.StatusUnauthorized},
		{"query key is for the dashboard only", "POST", "/v1/dlq/purge?key=" + testAPIKey, []byte(`{"ids":[]}`), nil, http.StatusUnauthorized},
		{"query key on the read API", "GET", "/v1/status?key=" + testAPIKey, nil, nil, http.StatusUnauthorized},
		{"cookie on the read API", "GET", "/v1/status", nil, cookie, http.StatusUnauthorized},
		{"dashboard without key", "GET", "/", nil, nil, http.StatusUnauthorized},
		{"dashboard with wrong query key", "GET", "/?key=nope", nil, nil, http.StatusUnauthorized},
		{"dashboard with query key", "GET", "/?key=" + testAPIKey, nil, nil, http.StatusOK},
		{"dashboard API with query key", "GET", "/v1/dashboard?key=" + testAPIKey, nil, nil, http.StatusOK},
		{"asset without key", "GET", "/assets/app.js", nil, nil, http.StatusUnauthorized},
		{"asset with cookie", "GET", "/assets/app.js", nil, cookie, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, tt.method, base+tt.path, tt.body, tt.header)
			if status != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, status, body, tt.want)
			}
			if status != http.StatusUnauthorized {
				return
			}
			var e struct{ Message string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("401 body %q: %v", body, err)
			}
			for _, want := range []string{"x-api-key: KEY", "Authorization: Bearer KEY", "/?key=KEY"} {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not say %q", e.Message, want)
				}
			}
			if h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	// Opening the page with ?key= hands the key to its assets as a cookie scoped to the stack.
	_, h, _ := do(t, "GET", base+"/?key="+testAPIKey, nil, nil)
	resp := http.Response{Header: h}
	var got *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == apiKeyCookie {
			got = c
		}
	}
	if got == nil || got.Value != testAPIKey || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie after GET /?key=: %+v, want %s=KEY, HttpOnly, SameSite=Strict", got, apiKeyCookie)
	}
}

func TestServerLimits(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	base, _ := startStack(t, stackConfig{
		MaxHeaderBytes:    1024,
		MaxBodyBytes:      1024,
		ReadHeaderTimeout: 200 * time.Millisecond,
		MaxConcurrent:     1,
		WrapHandler: func(name string, h lambda.Handler) lambda.Handler {
			if name != "enrich" {
				return h
			}
			return lambdaFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
				entered <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
				return []byte(`{}`), nil
			})
		},
	})
	addr := strings.TrimPrefix(base, "http://")

	t.Run("oversized headers", func(t *testing.T) {
		// The server allows MaxHeaderBytes plus 4 KiB of slack.
		status, _, _ := do(t, "GET", base+"/healthz", nil, map[string]string{"X-Big": strings.Repeat("a", 16<<10)})
		if status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", status)
		}
	})

	t.Run("oversized body", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 4096)
		for _, path := range []string{"/v1/events", "/v1/dlq/purge", "/2015-03-31/functions/analytics/invocations"} {
			status, _, body := do(t, "POST", base+path, big, nil)
			if status != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %s of 4096 bytes: %d %s, want 413", path, status, body)
			}
		}
		// Without a Content-Length the bound holds while the body is read: ingest reports it.
		req, err := http.NewRequest("POST", base+"/v1/events", io.MultiReader(bytes.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked POST /v1/events of 4096 bytes: %d, want 413", resp.StatusCode)
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// The headers never end: the server closes the connection once ReadHeaderTimeout passes.
		b, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the connection was still open after %v", time.Since(start))
		}
		if bytes.Contains(b, []byte("200 OK")) {
			t.Fatalf("an incomplete request was answered: %q", b)
		}
	})

	t.Run("concurrency bound", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Post(base+"/2015-03-31/functions/enrich/invocations", "application/json", strings.NewReader(`{}`))
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the invocation did not start")
		}
		status, h, _ := do(t, "GET", base+"/healthz", nil, nil)
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("a request over the bound: %d, Retry-After %q; want 503 with Retry-After", status, h.Get("Retry-After"))
		}
		close(release)
		select {
		case got := <-done:
			if got != http.StatusOK {
				t.Errorf("the invocation that held the slot: %d, want 200", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the invocation did not finish")
		}
		if status, _, _ := do(t, "GET", base+"/healthz", nil, nil); status != http.StatusOK {
			t.Errorf("after the slot is freed: %d, want 200", status)
		}
	})
}

// TestDashboardStreamOutlivesWriteTimeout reads snapshots from the event stream for longer than the
// server's read and write timeouts.
func TestDashboardStreamOutlivesWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	base, _ := startStack(t, stackConfig{APIKey: testAPIKey, WriteTimeout: timeout, ReadTimeout: timeout})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+dashboardStreamPath+"?key="+testAPIKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	start := time.Now()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	snapshots := 0
	for snapshots < 3 && sc.Scan() {
		if sc.Text() == "event: snapshot" {
			snapshots++
		}
	}
	if snapshots < 3 {
		t.Fatalf("%d snapshots before the stream ended (%v)", snapshots, sc.Err())
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("3 snapshots in %v: the test did not outlast the timeouts", d)
	}
}

func TestCheckExposure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, key string
		refused   bool
	}{
		{"0.0.0.0:4599", "", true},
		{":4599", "", true},
		{"[::]:4599", "", true},
		{"192.0.2.1:4599", "", true},
		{"example.com:4599", "", true},
		{"127.0.0.1:4599", "", false},
		{"127.0.0.2:4599", "", false},
		{"[::1]:4599", "", false},
		{"localhost:4599", "", false},
		{"0.0.0.0:4599", testAPIKey, false},
		{":4599", testAPIKey, false},
		{"no-port", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/"+tt.key, func(t *testing.T) {
			t.Parallel()
			err := checkExposure(tt.addr, tt.key)
			if (err != nil) != tt.refused {
				t.Fatalf("checkExposure(%q, %q) = %v, refused %v", tt.addr, tt.key, err, tt.refused)
			}
			if err != nil && tt.addr != "no-port" {
				for _, want := range []string{"--api-key", "127.0.0.1"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%q does not say %q", err, want)
					}
				}
			}
		})
	}
}

// TestUpRefusesExposureWithoutKey runs sdp up on an address beyond loopback without a key: it fails before
// it binds anything.
func TestUpRefusesExposureWithoutKey(t *testing.T) {
	t.Setenv("SDP_API_KEY", "")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"up", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--api-key") {
		t.Fatalf("exit %d, stderr %q; want 1 and a hint at --api-key", code, stderr.String())
	}
}

func TestCLISendsAPIKey(t *testing.T) {
	base, _ := startStack(t, stackConfig{APIKey: testAPIKey})
	tests := []struct {
		name     string
		args     []string
		env      string
		wantCode int
	}{
		{"flag", []string{"--api-key", testAPIKey}, "", 0},
		{"environment", nil, testAPIKey, 0},
		{"none", nil, "", 1},
		{"wrong", []string{"--api-key", "nope"}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SDP_API_KEY", tt.env)
			for _, cmd := range [][]string{{"status"}, {"aggregates"}, {"send", "../../events/sample.json"}} {
				args := append([]string{"--endpoint-url", base, "--output", "json"}, tt.args...)
				args = append(args, cmd...)
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr)
				if code != tt.wantCode {
					t.Fatalf("sdp %v: exit %d, want %d; stderr %s", cmd, code, tt.wantCode, stderr.String())
				}
				if code != 0 && !strings.Contains(stderr.String()+stdout.String(), "401") {
					t.Errorf("sdp %v: the failure does not show the 401: %s %s", cmd, stdout.String(), stderr.String())
				}
			}
		})
	}
}
