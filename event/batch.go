package event

import (
	"encoding/json"
	"time"
)

// Batch is the input of one workflow execution: the events of one consumer batch (or of one part of it, when
// the batch is too large for one execution's payload limit), in stream order.
type Batch struct {
	// BatchID identifies the execution's batch: the stream, shard and sequence range it covers.
	BatchID string `json:"batchId"`
	// ShardID is the shard the records were read from.
	ShardID string      `json:"shardId"`
	Items   []BatchItem `json:"items"`
}

// BatchItem is one event of a Batch with where it came from.
type BatchItem struct {
	SequenceNumber string `json:"sequenceNumber"`
	PartitionKey   string `json:"partitionKey"`
	// ArrivalTime is when the stream took the record.
	ArrivalTime time.Time `json:"arrivalTime"`
	// Event is the CloudEvent as JSON.
	Event json.RawMessage `json:"event"`
}

// BatchResult is the output of one workflow execution: the items it could not process. An empty Failed list
// means every item of the batch was processed.
type BatchResult struct {
	Processed int           `json:"processed"`
	Failed    []ItemFailure `json:"failed"`
}

// ItemFailure names one item a workflow execution failed, and why, in Step Functions' terms (an error name
// and a cause).
type ItemFailure struct {
	SequenceNumber string `json:"sequenceNumber"`
	EventID        string `json:"eventId,omitempty"`
	Error          string `json:"error"`
	Cause          string `json:"cause,omitempty"`
}

// Curated is an event after enrichment, as the curated table stores it. It is keyed by the event id, so
// writing it again (a retry or a replay) changes nothing.
type Curated struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Source  string          `json:"source"`
	Subject string          `json:"subject,omitempty"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Enriched holds the fields derived by the workflow's enrich step.
	Enriched map[string]any `json:"enriched,omitempty"`
	// ShardID and SequenceNumber say where in the stream the event was read.
	ShardID        string `json:"shardId"`
	SequenceNumber string `json:"sequenceNumber"`
	// ArrivalTime is when the stream took the event; CuratedAt when the curated table first took it.
	ArrivalTime time.Time `json:"arrivalTime"`
	CuratedAt   time.Time `json:"curatedAt"`
}

// Fact is what analytics aggregates of one curated event: its identity, type, source, event time and the
// numeric fields its schema marks as measures.
type Fact struct {
	// ID is the event id; analytics counts a fact at most once per ID.
	ID      string `json:"id"`
	Type    string `json:"type"`
	Source  string `json:"source"`
	Subject string `json:"subject,omitempty"`
	// Time is the event time, which places the fact in its window.
	Time time.Time `json:"time"`
	// ArrivalTime is when the stream took the event; analytics counts a fact that arrived after its window
	// closed as late. Zero means the time it is counted.
	ArrivalTime time.Time `json:"arrivalTime"`
	// Measures are the event's aggregated numeric fields, by field name.
	Measures map[string]float64 `json:"measures,omitempty"`
}

// FactBatch is the payload of the analytics function: the facts of one workflow batch.
type FactBatch struct {
	BatchID string `json:"batchId"`
	Events  []Fact `json:"events"`
}
