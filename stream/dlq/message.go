package dlq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Message is one dead-lettered message: usually an OnFailure record in JSON. Its JSON form (see MarshalJSON)
// is what the local stack's HTTP API and the CLI show, with the record readable rather than quoted.
type Message struct {
	// ID is the message id the queue gave the message.
	ID string
	// Body is the message as sent.
	Body []byte
	// SentAt is when the queue took the message.
	SentAt time.Time
	// Attributes are the message's attributes (SQS String attributes), nil when it has none.
	Attributes map[string]string
	// ReceiptHandle identifies this receive of the message, for Delete and ChangeVisibility; it is set by
	// Receive only.
	ReceiptHandle string
	// ReceiveCount is how many times the message was received (SQS's ApproximateReceiveCount), this
	// receive included.
	ReceiveCount int
	// FirstReceivedAt is when the message was first received (SQS's ApproximateFirstReceiveTimestamp), zero
	// when it never was.
	FirstReceivedAt time.Time
}

// messageJSON is the JSON form of a Message.
type messageJSON struct {
	ID              string            `json:"id"`
	SentAt          time.Time         `json:"sentAt"`
	Body            json.RawMessage   `json:"body"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	ReceiptHandle   string            `json:"receiptHandle,omitempty"`
	ReceiveCount    int               `json:"receiveCount,omitempty"`
	FirstReceivedAt time.Time         `json:"firstReceivedAt,omitzero"`
}

// MarshalJSON encodes m as {"id", "sentAt", "body"}, followed by "attributes", "receiptHandle",
// "receiveCount" and "firstReceivedAt" when they are set. A body that is a JSON object or array (as an OnFailure
// record is) is embedded as JSON, in compact form; any other body is a JSON string.
func (m Message) MarshalJSON() ([]byte, error) {
	body := json.RawMessage(m.Body)
	if !isJSONContainer(m.Body) {
		s, err := json.Marshal(string(m.Body))
		if err != nil {
			return nil, err
		}
		body = s
	}
	return json.Marshal(messageJSON{ID: m.ID, SentAt: m.SentAt, Body: body, Attributes: m.Attributes,
		ReceiptHandle: m.ReceiptHandle, ReceiveCount: m.ReceiveCount, FirstReceivedAt: m.FirstReceivedAt})
}

// UnmarshalJSON decodes the form MarshalJSON writes: a string body becomes its characters, an object or array
// body its JSON text.
func (m *Message) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Message{ID: j.ID, SentAt: j.SentAt, Attributes: j.Attributes, ReceiptHandle: j.ReceiptHandle,
		ReceiveCount: j.ReceiveCount, FirstReceivedAt: j.FirstReceivedAt}
	raw := bytes.TrimSpace(j.Body)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("dlq: message %s: body: %w", j.ID, err)
		}
		m.Body = []byte(s)
	case raw[0] == '{' || raw[0] == '[':
		m.Body = bytes.Clone(raw)
	default:
		return fmt.Errorf("dlq: message %s: body must be a JSON string, object or array", j.ID)
	}
	return nil
}

// isJSONContainer reports whether b is a valid JSON object or array.
func isJSONContainer(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(b)
}
