package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrBadBody wraps every reason a body is refused.
var ErrBadBody = errors.New("bad body")

// ParseBody splits a request body into messages: a single JSON document is one message, and
// several documents (NDJSON: one per line) are one message each. Each message is the document's
// bytes as sent, without surrounding whitespace. Any invalid document refuses the whole body, so
// that a request publishes everything or nothing; the error says where, by line and column.
func ParseBody(body []byte) ([][]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out [][]byte
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadBody, describe(body, dec.InputOffset(), err, len(out)))
		}
		out = append(out, raw)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty: send a JSON document, or one JSON document per line (NDJSON)", ErrBadBody)
	}
	return out, nil
}

// describe turns a decoding error into "document N (line L, column C): what".
func describe(body []byte, offset int64, err error, n int) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		offset = int64(len(body))
	}
	offset = min(max(offset, 1), int64(len(body)))
	before := body[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "the document is cut short"
	}
	return fmt.Sprintf("JSON document %d (line %d, column %d): %s", n+1, line, col, msg)
}
