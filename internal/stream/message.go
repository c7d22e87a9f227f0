package stream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a log entry as the HTTP API, forwarded batches and NDJSON archives write it, one
// JSON object a line. A payload that is UTF-8 text is in "payload" (JSON telemetry stays
// readable and greppable); any other payload is base64 in "payload_b64".
type Message struct {
	Offset     uint64    `json:"offset"`
	ID         string    `json:"id"`
	Topic      string    `json:"topic"`
	Time       time.Time `json:"time"`
	Payload    string    `json:"payload,omitempty"`
	PayloadB64 []byte    `json:"payload_b64,omitempty"`
}

// MessageOf converts a log entry.
func MessageOf(e *Entry) Message {
	m := Message{Offset: e.Offset, ID: e.ID(), Topic: e.Topic, Time: e.Time.UTC()}
	if utf8.Valid(e.Payload) {
		m.Payload = string(e.Payload)
	} else {
		m.PayloadB64 = e.Payload
	}
	return m
}

// Bytes returns the payload.
func (m *Message) Bytes() []byte {
	if m.PayloadB64 != nil {
		return m.PayloadB64
	}
	return []byte(m.Payload)
}

// splitID splits a message id into its origin and sequence.
func splitID(id string) (string, uint64, error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("message id %q: want ORIGIN-SEQ", id)
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("message id %q: want ORIGIN-SEQ", id)
	}
	return id[:i], seq, nil
}

// encodeNDJSON writes entries as JSON lines.
func encodeNDJSON(es []Entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range es {
		if err := enc.Encode(MessageOf(&es[i])); err != nil {
			return nil, fmt.Errorf("encode message %d: %w", es[i].Offset, err)
		}
	}
	return buf.Bytes(), nil
}

// DecodeNDJSON reads JSON lines of Messages.
func DecodeNDJSON(r io.Reader) ([]Message, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBodyLen*2)
	var out []Message
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	return out, nil
}
