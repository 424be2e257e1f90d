// Package event is the leaf package of the platform: the CloudEvents 1.0 envelope, its codecs (single event,
// batch, JSON array, NDJSON, gzip), the embedded JSON Schemas of every event type, validation errors, and the
// small wire shapes that the pipeline's stages exchange (stream records, workflow batches).
//
// It imports nothing from the rest of the module, so every stage can depend on it.
package event

import (
	"encoding/json"
	"time"
)

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// Event is a CloudEvents 1.0 event in structured JSON mode. Data is kept as raw JSON so that it is decoded
// once, by whoever needs its fields.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// PartitionKey is the key that places the event on a stream shard: the subject when present, else the id.
func (e *Event) PartitionKey() string {
	if e.Subject != "" {
		return e.Subject
	}
	return e.ID
}

// Record is one entry bound for a stream: its partition key and its bytes (a CloudEvent in JSON).
type Record struct {
	PartitionKey string
	Data         []byte
}

// Kinesis's limits on PutRecords, which every stream adapter enforces and ingest stays within.
const (
	// MaxRecordsPerPut is the most records one PutRecords call may carry.
	MaxRecordsPerPut = 500
	// MaxRecordBytes is the largest record, in bytes.
	MaxRecordBytes = 1 << 20
	// MaxPutBytes is the largest total of data and partition keys in one PutRecords call, in bytes.
	MaxPutBytes = 5 << 20
	// MaxPartitionKeyLength is the longest partition key, in Unicode characters.
	MaxPartitionKeyLength = 256
)

// PutResult is the stream's answer for one Record, in the order the records were given. A record was durably
// taken when SequenceNumber is set; otherwise ErrorCode says why not (the codes are Kinesis's:
// ProvisionedThroughputExceededException, InternalFailure).
type PutResult struct {
	ShardID        string
	SequenceNumber string
	ErrorCode      string
	ErrorMessage   string
}

// Error codes a stream uses in PutResult.ErrorCode, as Kinesis names them.
const (
	ErrCodeThroughputExceeded = "ProvisionedThroughputExceededException"
	ErrCodeInternalFailure    = "InternalFailure"
)

// StreamRecord is a record as read back from a stream shard.
type StreamRecord struct {
	ShardID        string
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	// ArrivalTime is when the stream took the record (Kinesis's ApproximateArrivalTimestamp).
	ArrivalTime time.Time
}
