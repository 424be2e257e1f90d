package analytics_test

import (
	"testing"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/analyticstest"
)

// TestLocalContract runs the aggregates' contract suite against Local.
func TestLocalContract(t *testing.T) {
	analyticstest.Run(t, func(t *testing.T, c analyticstest.Config) analytics.Store { return newLocalWith(t, c) })
}

// newLocalWith returns a Local store on a fresh database, with the suite's windowing and clock.
func newLocalWith(t *testing.T, c analyticstest.Config) *analytics.Local {
	t.Helper()
	s, err := analytics.OpenLocal(openDB(t), analytics.WithWindowing(c.Windowing), analytics.WithLocalClock(c.Now))
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return s
}
