package telemetry

// Dimension names of the pipeline's metrics. Their sets are fixed and their values come from small vocabularies
// (function names, Reason, Status), so that CloudWatch and Prometheus series stay few.
const (
	// DimFunction is the pipeline stage (function name).
	DimFunction = "Function"
	// DimReason is a rejection reason, one of the values Reason returns.
	DimReason = "Reason"
	// DimStatus is a workflow outcome: StatusSucceeded or StatusFailed.
	DimStatus = "Status"
)

// Values of the Status dimension of WorkflowDuration.
const (
	StatusSucceeded = "Succeeded"
	StatusFailed    = "Failed"
)

// LatencyBuckets are the Prometheus buckets of the millisecond histograms, from 1 ms to one minute.
func LatencyBuckets() []float64 {
	return []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}
}

// BatchSizeBuckets are the Prometheus buckets of BatchSize (records per consumer invocation).
func BatchSizeBuckets() []float64 {
	return []float64{1, 10, 25, 50, 100, 250, 500, 1000, 10000}
}

// Pipeline is the platform's metric set.
type Pipeline struct {
	EventsAccepted   *Counter   // Count, dims: Function           — events the stream took (ingest)
	EventsRejected   *Counter   // Count, dims: Function, Reason   — Reason: see Reason
	BatchSize        *Histogram // Count, dims: Function           — records per consumer invocation
	PartialFailures  *Counter   // Count, dims: Function           — records a consumer reported failed
	Retries          *Counter   // Count, dims: Function           — batch retries by the event source mapping
	DLQWrites        *Counter   // Count, dims: Function           — on-failure records sent to the dead-letter queue
	WorkflowDuration *Histogram // Milliseconds, dims: Status      — Status: Succeeded | Failed
	EndToEndLatency  *Histogram // Milliseconds, dims: Function    — stream arrival → curated write
	Curated          *Counter   // Count, dims: Function           — items written to the curated table
}

// NewPipeline declares the platform's metrics in r (or returns the ones already declared there).
func NewPipeline(r *Registry) *Pipeline {
	return &Pipeline{
		EventsAccepted: r.Counter("EventsAccepted", "Events the stream durably took.", Count, DimFunction),
		EventsRejected: r.Counter("EventsRejected", "Events rejected, by reason.", Count, DimFunction, DimReason),
		BatchSize: r.Histogram("BatchSize", "Records per consumer invocation.", Count,
			BatchSizeBuckets(), DimFunction),
		PartialFailures: r.Counter("PartialFailures", "Records a consumer reported as failed.", Count, DimFunction),
		Retries:         r.Counter("Retries", "Batch retries by the event source mapping.", Count, DimFunction),
		DLQWrites:       r.Counter("DLQWrites", "Records sent to the dead-letter queue.", Count, DimFunction),
		WorkflowDuration: r.Histogram("WorkflowDuration", "Workflow execution duration in milliseconds, by status.",
			Milliseconds, LatencyBuckets(), DimStatus),
		EndToEndLatency: r.Histogram("EndToEndLatency",
			"Milliseconds from stream arrival to the curated write.", Milliseconds, LatencyBuckets(), DimFunction),
		Curated: r.Counter("Curated", "Items written to the curated table.", Count, DimFunction),
	}
}

// Values of the Reason dimension of EventsRejected: a small fixed vocabulary, so that the dimension's values
// stay few. Ingest maps its validation rules and the stream's error codes onto them.
const (
	ReasonInvalid     = "invalid"
	ReasonUnknownType = "unknown_type"
	ReasonMalformed   = "malformed"
	ReasonTooLarge    = "too_large"
	ReasonDuplicateID = "duplicate_id"
	ReasonThrottled   = "throttled"
	ReasonStreamError = "stream_error"
	ReasonOther       = "other"
)
