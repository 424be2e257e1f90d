package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/loadtest"
)

// The shape of the generated Lambda event: one shard of one stream, as the event source mapping delivers it.
const (
	shardID        = "shardId-000000000000"
	awsRegion      = "us-east-1"
	streamARN      = "arn:aws:kinesis:us-east-1:123456789012:stream/sdp-events"
	invokeRoleARN  = "arn:aws:iam::123456789012:role/sdp-consumer"
	generatorSeed  = 1
	generatorBatch = 1 // the generator's sequence number of the batch
	// sequencePrefix starts every sequence number; a 26-digit counter completes it to Kinesis's 56 digits.
	sequencePrefix = "496580215487391093512875628716"
)

// generatedAt is the time of every generated event; records arrive on the stream from one second later.
var generatedAt = time.Date(2026, time.January, 15, 12, 0, 0, 0, time.UTC)

// dataset describes the generated input files.
type dataset struct {
	// RecordsPath is a Lambda Kinesis event (events.KinesisEvent) of all records; EventsPath the same events,
	// one per line.
	RecordsPath string `json:"recordsPath"`
	EventsPath  string `json:"eventsPath"`
	Records     int    `json:"records"`
	// Invalid is the number of events that break their schema.
	Invalid        int     `json:"invalid"`
	MeanEventBytes float64 `json:"meanEventBytes"`
}

// sequenceNumber returns the 56-digit sequence number of the i-th record of the shard.
func sequenceNumber(i int) string {
	return fmt.Sprintf("%s%026d", sequencePrefix, i+1)
}

// buildEvent generates n events with the load generator and wraps them as the records of one Lambda
// Kinesis event, in order. It returns what each event is, too.
func buildEvent(n int, invalid float64, types []string) (events.KinesisEvent, []loadtest.EventInfo, error) {
	g, err := loadtest.NewGenerator(loadtest.GenConfig{Types: types, InvalidRatio: invalid, Seed: generatorSeed})
	if err != nil {
		return events.KinesisEvent{}, nil, fmt.Errorf("event generator: %w", err)
	}
	// One batch of the generator: the same flags always give the same bytes, so Go and Node.js runs of
	// different days compare the same input.
	recs, infos := g.Records(generatorBatch, n, generatedAt)
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		seq := sequenceNumber(i)
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:         awsRegion,
			EventID:           shardID + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    streamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: invokeRoleARN,
			Kinesis: events.KinesisRecord{
				// Kinesis stamps arrival to the millisecond.
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: generatedAt.Add(time.Second + time.Duration(i)*time.Millisecond)},
				Data:                        r.Data,
				PartitionKey:                r.PartitionKey,
				SequenceNumber:              seq,
				KinesisSchemaVersion:        "1.0",
			},
		}
	}
	return ev, infos, nil
}

// writeDataset writes records.json and events.ndjson into dir and describes them.
func writeDataset(dir string, n int, invalid float64, types []string) (dataset, error) {
	ev, infos, err := buildEvent(n, invalid, types)
	if err != nil {
		return dataset{}, err
	}
	ds := dataset{
		RecordsPath: filepath.Join(dir, "records.json"),
		EventsPath:  filepath.Join(dir, "events.ndjson"),
		Records:     len(ev.Records),
	}
	for _, info := range infos {
		if info.Invalid {
			ds.Invalid++
		}
	}
	// Compact JSON, as the Lambda service delivers the invocation payload; the event's types give the wire
	// names (Records, eventSourceARN) and the encodings (base64 data, epoch seconds).
	b, err := json.Marshal(ev)
	if err != nil {
		return dataset{}, fmt.Errorf("records.json: %w", err)
	}
	if err := os.WriteFile(ds.RecordsPath, b, 0o644); err != nil {
		return dataset{}, fmt.Errorf("records.json: %w", err)
	}

	f, err := os.Create(ds.EventsPath)
	if err != nil {
		return dataset{}, fmt.Errorf("events.ndjson: %w", err)
	}
	// The events exactly as the records carry them, one per line: the generator writes no line breaks.
	w := bufio.NewWriter(f)
	total := 0
	for _, r := range ev.Records {
		total += len(r.Kinesis.Data)
		w.Write(r.Kinesis.Data)
		w.WriteByte('\n')
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dataset{}, fmt.Errorf("events.ndjson: %w", err)
	}
	if ds.Records > 0 {
		ds.MeanEventBytes = float64(total) / float64(ds.Records)
	}
	return ds, nil
}
