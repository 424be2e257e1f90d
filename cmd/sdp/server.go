package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/dashboard"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/workbench"
	"github.com/serverless-data-platform/sdp/stream/esm"
)

// ingestHTTP serves ingest over HTTP as API Gateway and Lambda would: each request is an invocation of the
// ingest function, with a request id, and joins the trace its X-Amzn-Trace-Id header names, if any.
func (s *stack) ingestHTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := lambdacontext.NewContext(r.Context(), &lambdacontext.LambdaContext{AwsRequestID: event.NewID(),
			InvokedFunctionArn: s.funcs["ingest"].arn})
		ctx = telemetry.ContextWithHeader(telemetry.Invocation(ctx, "ingest"), r.Header.Get("X-Amzn-Trace-Id"))
		s.ingest.ServeHTTP(w, r.WithContext(ctx))
	})
}

// routes is local mode's HTTP API: ingest, the read API, the Lambda Invoke API and the dashboard. The
// dashboard samples its counters until ctx is done.
func (s *stack) routes(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/events", s.ingestHTTP())
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /v1/events/{id}", s.getEvent)
	mux.HandleFunc("GET /v1/aggregates", s.getAggregates)
	mux.HandleFunc("GET /v1/dlq", s.getDLQ)
	s.dlqRoutes(mux)
	mux.HandleFunc("GET /v1/status", s.getStatus)
	mux.HandleFunc("GET /v1/executions", s.listExecutions)
	mux.HandleFunc("GET /v1/executions/{name}", s.getExecution)
	mux.HandleFunc("POST /v1/executions/{name}/replay", s.replayExecution)
	mux.Handle("/2015-03-31/functions/{name}/invocations", &invokeAPI{
		functions: s.funcs, region: s.cfg.Region, account: localAccount, log: s.log, background: ctx, async: &s.async,
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.dashboardRoutes(ctx, mux)
	return mux
}

// dashboardAggregatesEvery is how long the dashboard reuses the aggregates it read from DynamoDB (the AWS
// backend), so that a page left open does not query the table every second.
const dashboardAggregatesEvery = 10 * time.Second

// dashboardRoutes adds the dashboard: the page at / and its API, GET /v1/dashboard and GET
// /v1/dashboard/stream (see package dashboard). Its sampler runs until ctx is done; it reads memory only
// but for the snapshots of open streams, and it ends those streams when ctx is done, so that the server's
// graceful shutdown does not wait on them.
func (s *stack) dashboardRoutes(ctx context.Context, mux *http.ServeMux) {
	src := dashboard.Sources{Ingest: s.ingest, Consumer: s.mapping, Executions: s.history, DLQ: s.dlq, Aggregates: s.agg}
	opts := []dashboard.Option{dashboard.WithLogger(s.log)}
	if s.stream != nil {
		// The local table keeps its count beside it; DynamoDB's would be a scan (see getStatus).
		src.Curated = s.curated
	} else {
		opts = append(opts, dashboard.WithAggregatesEvery(dashboardAggregatesEvery))
	}
	d, err := dashboard.New(src, opts...)
	if err != nil {
		unavailable := func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusInternalServerError, "the dashboard is not available on this stack: "+err.Error())
		}
		for _, p := range []string{"GET /{$}", "GET /v1/dashboard", "GET /v1/dashboard/stream"} {
			mux.HandleFunc(p, unavailable)
		}
		return
	}
	s.background.Go(func() {
		if err := d.Run(ctx); err != nil {
			s.log.Warn("the dashboard's sampler stopped", "error", err)
		}
	})
	d.Register(mux)
}

// getEvent answers GET /v1/events/{id}: the curated item, or 404 until the event has been curated.
func (s *stack) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	item, ok, err := s.curated.Get(r.Context(), id)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "reading the curated table: "+err.Error())
	case !ok:
		writeError(w, http.StatusNotFound, "event "+strconv.Quote(id)+" is not curated (yet): it was never accepted, is still in flight, or failed into the DLQ (GET /v1/dlq)")
	default:
		writeJSON(w, http.StatusOK, item)
	}
}

// getAggregates answers GET /v1/aggregates?type=&source=&from=&to=&by=: the windows that match, with their
// counts, uniques, measure statistics and top subjects, per type and source, or per type with by=type. from
// and to take RFC 3339 times or durations relative to now (-15m).
func (s *stack) getAggregates(w http.ResponseWriter, r *http.Request) {
	q := analytics.Query{Type: r.URL.Query().Get("type"), Source: r.URL.Query().Get("source")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseTimeParam(v, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, p.name+": "+err.Error())
			return
		}
		*p.dst = t
	}
	windows, err := s.agg.Query(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "querying aggregates: "+err.Error())
		return
	}
	switch by := r.URL.Query().Get("by"); by {
	case "", "source":
	case "type":
		// One window per start and type, its sources merged (the sketches merge exactly).
		if windows, err = analytics.MergeSources(windows); err != nil {
			writeError(w, http.StatusInternalServerError, "merging sources: "+err.Error())
			return
		}
	default:
		writeError(w, http.StatusBadRequest, "by: source (one window per type and source, the default) or type (sources merged)")
		return
	}
	if windows == nil {
		windows = []analytics.Window{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"windows": windows})
}

// parseTimeParam reads an RFC 3339 time, or a duration relative to now such as -15m.
func parseTimeParam(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return time.Time{}, &paramError{v}
	}
	return now.Add(d), nil
}

// paramError is a query parameter that is not a time.
type paramError struct{ v string }

func (e *paramError) Error() string {
	return strconv.Quote(e.v) + " is neither an RFC 3339 time (2026-11-26T09:00:00Z) nor a relative duration (-15m)"
}

// getDLQ answers GET /v1/dlq?limit=: the queue's depth and its oldest messages, each an on-failure record
// that names the shard and sequence range of a batch given up on. Reading does not consume them.
func (s *stack) getDLQ(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: a whole number from 1 to 10000")
			return
		}
		limit = n
	}
	msgs, err := s.dlq.List(r.Context(), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the DLQ: "+err.Error())
		return
	}
	depth, err := s.dlq.Len(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the DLQ: "+err.Error())
		return
	}
	if msgs == nil {
		msgs = []dlq.Message{}
	}
	// Each message encodes as {"id", "sentAt", "body"}, its on-failure record embedded as JSON.
	writeJSON(w, http.StatusOK, map[string]any{"queue": queueName, "depth": depth, "messages": msgs})
}

// dlqRoutes adds the DLQ workbench's API: GET /v1/dlq/messages (the groups), GET /v1/dlq/messages/{id},
// GET /v1/dlq/messages/{id}/explain, POST /v1/dlq/redrive and POST /v1/dlq/purge. The workbench runs over
// the stack's queue, stream and execution records; redrives go back onto the stream (the local log), or
// through the workflow, and their audit lines to <data dir>/dlq-audit.jsonl.
func (s *stack) dlqRoutes(mux *http.ServeMux) {
	var store workbench.Store
	switch q := s.dlq.(type) {
	case *dlq.Local:
		store = workbench.FromLocal(q)
	case queueView:
		store = workbench.FromQueue(q.q)
	}
	var stream workbench.Stream
	if s.stream != nil {
		stream = workbench.FromLog(s.stream)
	} else if r, ok := s.reader.(workbench.Stream); ok {
		stream = r
	}
	wb, err := workbench.New(store, stream, s.registry, workbench.WithFailures(workbench.FromHistory(s.history)))
	if err != nil {
		unavailable := func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotImplemented, "the DLQ workbench is not available on this stack: "+err.Error())
		}
		for _, p := range []string{"GET /v1/dlq/messages", "GET /v1/dlq/messages/{id}", "GET /v1/dlq/messages/{id}/explain",
			"POST /v1/dlq/redrive", "POST /v1/dlq/purge"} {
			mux.HandleFunc(p, unavailable)
		}
		return
	}
	mux.HandleFunc("GET /v1/dlq/messages", func(w http.ResponseWriter, r *http.Request) {
		l, err := wb.List(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "listing the DLQ: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	mux.HandleFunc("GET /v1/dlq/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := wb.Show(r.Context(), r.PathValue("id"))
		if err != nil {
			writeDLQError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /v1/dlq/messages/{id}/explain", func(w http.ResponseWriter, r *http.Request) {
		x, err := wb.Explain(r.Context(), r.PathValue("id"))
		if err != nil {
			writeDLQError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, x)
	})
	mux.HandleFunc("POST /v1/dlq/redrive", func(w http.ResponseWriter, r *http.Request) {
		var req redriveRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the body must be a JSON redrive request: "+err.Error())
			return
		}
		opts := workbench.RedriveOptions{Filter: req.Filter, Rate: req.Rate, DryRun: req.DryRun, SkipInvalid: req.SkipInvalid}
		switch {
		case req.Target == "workflow":
			opts.Target = workbench.ToWorkflow(s.workflow)
		case req.Target != "" && req.Target != "stream":
			writeError(w, http.StatusBadRequest, "target: stream or workflow")
			return
		case s.stream != nil:
			opts.Target = workbench.ToStream(s.stream)
		default:
			// With the AWS backend the stack holds no producer: the records run through the workflow.
			opts.Target = workbench.ToWorkflow(s.workflow)
		}
		if !req.DryRun {
			f, err := openAudit(filepath.Join(s.cfg.DataDir, "dlq-audit.jsonl"))
			if err != nil {
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			defer f.Close()
			opts.Audit = f
		}
		rep, err := wb.Redrive(r.Context(), opts)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "redrive: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("POST /v1/dlq/purge", func(w http.ResponseWriter, r *http.Request) {
		var req purgeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the body must be a JSON purge request: "+err.Error())
			return
		}
		deleted, err := wb.Purge(r.Context(), req.IDs)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "purge: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, purgeResponse{Deleted: deleted})
	})
}

// writeDLQError answers an error of the workbench: 404 for an unknown message, 409 for a message that is
// not an on-failure record, 500 otherwise.
func writeDLQError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, workbench.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error()+"; list the messages with sdp dlq ls")
	case errors.Is(err, workbench.ErrNotOnFailure):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// getStatus answers GET /v1/status (sdp status): per shard the records held and the mapping's
// progress (checkpoint, invocations, failures, dead letters, iterator age), the curated count and DLQ depth.
func (s *stack) getStatus(w http.ResponseWriter, r *http.Request) {
	// Counting the curated table is a scan: cheap on the local table, a read of the whole table on DynamoDB,
	// which a polled status must not do. With the AWS backend the count is left out (null).
	var curated *int
	if s.stream != nil {
		n, err := s.curated.Count(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		curated = &n
	}
	depth, err := s.dlq.Len(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	type shardMapping struct {
		esm.ShardStats
		IteratorAgeMs int64 `json:"iteratorAgeMs"`
	}
	var mapping []shardMapping
	for _, st := range s.mapping.Stats() {
		mapping = append(mapping, shardMapping{st, st.IteratorAge.Milliseconds()})
	}
	var streamStats any = []any{}
	if s.stream != nil {
		streamStats = s.stream.Stats()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"uptimeSeconds": int(time.Since(s.started).Seconds()),
		"stream":        streamStats,
		"mapping":       mapping,
		"curated":       curated,
		"dlqDepth":      depth,
	})
}

// writeJSON writes v as a JSON answer with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeError writes {"message": msg} with the given status: what went wrong and, where it helps, what to do.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// Defaults of the local HTTP server's limits (sdp up flags; stackConfig's zero values).
const (
	defaultMaxHeaderBytes    = 64 << 10
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = time.Minute
	// defaultWriteTimeout leaves room for the longest synchronous invocation of the template's functions
	// (120 s) through the Invoke API. The dashboard's event stream has no write deadline.
	defaultWriteTimeout = 5 * time.Minute
	defaultIdleTimeout  = 2 * time.Minute
	// defaultMaxBodyBytes is above the ingest function's own limit (Lambda's 6 MB payload), which it keeps.
	defaultMaxBodyBytes  = 8 << 20
	defaultMaxConcurrent = 256
)

// Where the dashboard is served; these GET routes also take the key as ?key= or as the cookie the page
// gets when it is opened with ?key=, since a browser sends no header for a page, a script or an EventSource.
const (
	dashboardStreamPath = "/v1/dashboard/stream"
	apiKeyCookie        = "sdp_api_key"
)

// guard wraps the API in the server's protections, in order: at most MaxConcurrent requests at once
// (503 with Retry-After beyond), the API key on every route but GET /healthz (401 without it), and a bound
// on the body of every POST (413 above it). The dashboard's event stream is exempt from the write timeout.
func (s *stack) guard(next http.Handler) http.Handler {
	maxBody := int64(cmp.Or(s.cfg.MaxBodyBytes, defaultMaxBodyBytes))
	sem := make(chan struct{}, cmp.Or(s.cfg.MaxConcurrent, defaultMaxConcurrent))
	var want [sha256.Size]byte
	if s.cfg.APIKey != "" {
		want = sha256.Sum256([]byte(s.cfg.APIKey))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "the server is at its bound of concurrent requests (sdp up --max-concurrent); retry shortly")
			return
		}
		open := r.Method == http.MethodGet && r.URL.Path == "/healthz"
		if s.cfg.APIKey != "" && !open {
			key, fromQuery := requestKey(r)
			got := sha256.Sum256([]byte(key))
			if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sdp"`)
				writeError(w, http.StatusUnauthorized, "this stack requires its API key: send the header x-api-key: KEY or Authorization: Bearer KEY "+
					"(sdp --api-key KEY, or SDP_API_KEY), and open the dashboard at /?key=KEY")
				return
			}
			if fromQuery && r.URL.Path == "/" {
				// The page's scripts and styles load without the query: they carry the key as this cookie.
				http.SetCookie(w, &http.Cookie{Name: apiKeyCookie, Value: key, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			}
		}
		if r.Method == http.MethodPost {
			if r.ContentLength > maxBody {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is %d bytes, over the limit of %d (sdp up --max-body-bytes)", r.ContentLength, maxBody))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if r.URL.Path == dashboardStreamPath {
			// The stream lasts as long as the page is open: no write deadline, and no read deadline either
			// (its expiry would end the request's context). A writer that does not support deadlines keeps
			// the server's, and the page then reconnects.
			rc := http.NewResponseController(w)
			if err := errors.Join(rc.SetWriteDeadline(time.Time{}), rc.SetReadDeadline(time.Time{})); err != nil {
				s.log.Debug("the dashboard stream keeps the server's timeouts", "error", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requestKey is the API key a request carries: the x-api-key header, an Authorization: Bearer header, or,
// for GET requests of the dashboard (fromQuery), ?key= or the dashboard's cookie.
func requestKey(r *http.Request) (key string, fromQuery bool) {
	if k := r.Header.Get("x-api-key"); k != "" {
		return k, false
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:]), false
	}
	if r.Method != http.MethodGet || !isDashboardPath(r.URL.Path) {
		return "", false
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k, true
	}
	if c, err := r.Cookie(apiKeyCookie); err == nil {
		return c.Value, false
	}
	return "", false
}

// isDashboardPath reports whether path is the dashboard's page, one of its assets or its API.
func isDashboardPath(path string) bool {
	return path == "/" || strings.HasPrefix(path, "/assets/") || path == "/v1/dashboard" || path == dashboardStreamPath
}
