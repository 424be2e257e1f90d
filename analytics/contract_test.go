package analytics_test

import (
	"testing"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/analyticstest"
)

// TestLocalContract runs the aggregates' contract suite against Local.
func TestLocalContract(t *testing.T) {
	analyticstest.Run(t, func(t *testing.T) analytics.Store { return newLocal(t) })
}
