package main

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// listExecutions answers GET /v1/executions?status=&batch=&limit=: the recorded workflow executions, newest
// first, without their data and history, and how many records are kept in all.
func (s *stack) listExecutions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := history.Filter{Status: asl.Status(q.Get("status")), BatchID: q.Get("batch"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit must be a whole number >= 0 (0: all)")
			return
		}
		f.Limit = n
	}
	recs, total, err := s.history.List(f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if recs == nil {
		recs = []history.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": recs, "total": total})
}

// getExecution answers GET /v1/executions/{name}: the whole record of an execution, by name or ARN.
func (s *stack) getExecution(w http.ResponseWriter, r *http.Request) {
	rec, err := s.history.Get(r.PathValue("name"))
	if err != nil {
		writeHistoryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// replayExecution answers POST /v1/executions/{name}/replay: it runs a new execution with the recorded input
// of the named one and answers with the new execution's record. Every write of the workflow is idempotent,
// so replaying a finished execution changes neither the curated table nor the aggregates.
func (s *stack) replayExecution(w http.ResponseWriter, r *http.Request) {
	orig, err := s.history.Get(r.PathValue("name"))
	if err != nil {
		writeHistoryError(w, err)
		return
	}
	if len(orig.Input) == 0 {
		writeError(w, http.StatusConflict, "execution "+orig.Name+" has no recorded input to replay")
		return
	}
	rec, err := s.workflow.Run(r.Context(), orig.Input, orig.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// writeHistoryError answers 404 for an unknown execution and 500 otherwise.
func writeHistoryError(w http.ResponseWriter, err error) {
	if errors.Is(err, history.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error()+"; list them with `sdp executions ls`")
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}
