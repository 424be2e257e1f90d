package dlq

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"
)

// TestOnFailureFixture decodes an on-failure record in AWS's shape, checks its fields, and encodes it back to
// the same JSON, byte for byte once compacted.
func TestOnFailureFixture(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/kinesis-on-failure.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f OnFailure
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	// Every field of the fixture lands where it should, timestamps as UTC times with milliseconds.
	checks := []struct {
		name      string
		got, want any
	}{
		{"condition", f.RequestContext.Condition, ConditionRetryAttemptsExhausted},
		{"invoke count", f.RequestContext.ApproximateInvokeCount, 3},
		{"function error", f.ResponseContext.FunctionError, FunctionErrorUnhandled},
		{"version", f.Version, OnFailureVersion},
		{"timestamp", f.Timestamp.UTC(), time.Date(2024, 5, 2, 9, 41, 17, 300_000_000, time.UTC)},
		{"shard", f.KinesisBatchInfo.ShardID, "shardId-000000000001"},
		{"first arrival", f.KinesisBatchInfo.ApproximateArrivalOfFirstRecord.UTC(), time.Date(2024, 5, 2, 9, 40, 58, 4_000_000, time.UTC)},
		{"batch size", f.KinesisBatchInfo.BatchSize, 500},
		{"stream", f.KinesisBatchInfo.StreamARN, "arn:aws:kinesis:eu-west-1:111122223333:stream/sdp-events"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Field order and formatting follow AWS's, so the encoding is the fixture's compact form exactly.
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Errorf("re-encoded record differs:\n got %s\nwant %s", out, want.Bytes())
	}
}

// TestOnFailureShape checks the keys of a record built in code against AWS's shape.
func TestOnFailureShape(t *testing.T) {
	t.Parallel()
	// A non-UTC time and a sub-millisecond arrival exercise the timestamp encoding too.
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	f := OnFailure{
		RequestContext:  RequestContext{RequestID: "r", FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:f", Condition: ConditionRecordAgeExceeded, ApproximateInvokeCount: 1},
		ResponseContext: ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST"},
		Version:         OnFailureVersion,
		Timestamp:       Timestamp{at},
		KinesisBatchInfo: KinesisBatchInfo{
			ShardID: "shardId-000000000000", StartSequenceNumber: "1", EndSequenceNumber: "2",
			ApproximateArrivalOfFirstRecord: Timestamp{at}, ApproximateArrivalOfLastRecord: Timestamp{at.Add(1500 * time.Microsecond)},
			BatchSize: 2, StreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s",
		},
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	keys := func(v map[string]json.RawMessage) []string {
		var ks []string
		for k := range v {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if got, want := keys(top), []string{"KinesisBatchInfo", "requestContext", "responseContext", "timestamp", "version"}; !reflect.DeepEqual(got, want) {
		t.Errorf("top-level keys %v, want %v", got, want)
	}
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{"request context", "requestContext", []string{"approximateInvokeCount", "condition", "functionArn", "requestId"}},
		{"response context without function error", "responseContext", []string{"executedVersion", "statusCode"}},
		{"batch info", "KinesisBatchInfo", []string{"approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord", "batchSize", "endSequenceNumber", "shardId", "startSequenceNumber", "streamArn"}},
	}
	for _, tt := range tests {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(top[tt.obj], &obj); err != nil {
			t.Fatal(err)
		}
		if got := keys(obj); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s keys %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := string(top["timestamp"]); got != `"2025-01-02T02:04:05.000Z"` {
		t.Errorf("timestamp %s, want UTC with three fractional digits", got)
	}
	var info map[string]any
	if err := json.Unmarshal(top["KinesisBatchInfo"], &info); err != nil {
		t.Fatal(err)
	}
	if got := info["approximateArrivalOfLastRecord"]; got != "2025-01-02T02:04:05.001Z" {
		t.Errorf("last arrival %v, want milliseconds truncated", got)
	}
}

// TestTimestamp checks the timestamp encoding and which inputs decode.
func TestTimestamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{"milliseconds", `"2019-11-14T00:13:49.717Z"`, time.Date(2019, 11, 14, 0, 13, 49, 717_000_000, time.UTC), false},
		{"no fraction", `"2019-11-14T00:13:49Z"`, time.Date(2019, 11, 14, 0, 13, 49, 0, time.UTC), false},
		{"offset", `"2019-11-14T01:13:49.5+01:00"`, time.Date(2019, 11, 14, 0, 13, 49, 500_000_000, time.UTC), false},
		{"number", `1573690429`, time.Time{}, true},
		{"garbage", `"yesterday"`, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ts Timestamp
			err := json.Unmarshal([]byte(tt.in), &ts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decoded %s", tt.in)
				}
				return
			}
			if err != nil || !ts.Equal(tt.want) {
				t.Fatalf("decoded %s as %v, %v; want %v", tt.in, ts.Time, err, tt.want)
			}
			b, _ := json.Marshal(ts)
			if want := `"` + tt.want.Format("2006-01-02T15:04:05.000Z") + `"`; string(b) != want {
				t.Errorf("encoded %s, want %s", b, want)
			}
		})
	}
}
