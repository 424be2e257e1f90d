package dlq

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// FuzzOnFailure checks the on-failure record decoding: any bytes either fail to decode or decode to a
// record whose encoding decodes again to the same encoding.
func FuzzOnFailure(f *testing.F) {
	fixture, err := os.ReadFile("testdata/kinesis-on-failure.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	f.Add([]byte(`{"timestamp":"2024-05-02T09:41:17.3+02:00"}`))
	f.Add([]byte(`{"timestamp":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r OnFailure
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		enc, err := json.Marshal(&r)
		if err != nil {
			t.Fatalf("encoding a decoded record: %v", err)
		}
		var again OnFailure
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("decoding %s: %v", enc, err)
		}
		enc2, err := json.Marshal(&again)
		if err != nil {
			t.Fatalf("encoding a record a second time: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("the encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzMessageJSON checks Message's JSON form: what decodes encodes to JSON that decodes to the same
// encoding.
func FuzzMessageJSON(f *testing.F) {
	fixture, err := os.ReadFile("testdata/kinesis-on-failure.json")
	if err != nil {
		f.Fatal(err)
	}
	sent := time.Date(2024, 5, 2, 9, 41, 17, 0, time.UTC)
	for _, m := range []Message{
		{ID: "1", Body: fixture, SentAt: sent},
		{ID: "2", Body: []byte("plain text"), SentAt: sent, Attributes: map[string]string{"a": "b"}},
		{ID: "3", Body: []byte(`[1, 2]`), SentAt: sent, ReceiptHandle: "h", ReceiveCount: 2, FirstReceivedAt: sent},
	} {
		b, err := m.MarshalJSON()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","body":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encoding a decoded message: %v", err)
		}
		var again Message
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("decoding %s: %v", enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatalf("encoding a message a second time: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("the encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzDecodeMessage checks the stored form of a message: any bytes either are refused or decode to a
// message that encodes back to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage("id-1", time.Unix(1714642877, 300), []byte(`{"a":1}`)))
	f.Add(encodeMessage("", time.Time{}, nil))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, v []byte) {
		m, err := decodeMessage(v)
		if err != nil {
			return
		}
		if got := encodeMessage(m.ID, m.SentAt, m.Body); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded to %x; want %x", got, v)
		}
	})
}
