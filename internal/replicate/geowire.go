package replicate

import (
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/object"
)

// The body of a shipping RPC (POST /rpc/geo/apply) is binary: JSON spent most of both sides' CPU
// on base64 and on scanning the inline data of small objects. It is "MCB2", a count, then the
// records in the node-to-node record encoding (codec.go), which carries every field of
// object.RecordMsg.

const batchMagic = "MCB2"

var errBadBatch = errors.New("malformed record batch")

func encodeBatch(msgs []object.RecordMsg) []byte {
	n := len(batchMagic) + 10
	for _, m := range msgs {
		n += 40 + len(m.Bucket) + len(m.Key) + len(m.Enc) + len(m.Sub)
	}
	e := enc{b: make([]byte, 0, n)}
	e.b = append(e.b, batchMagic...)
	e.uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		e.record(m)
	}
	return e.b
}

// decodeBatch parses a batch; the records' Enc alias b.
func decodeBatch(b []byte) ([]object.RecordMsg, error) {
	if len(b) < len(batchMagic) || string(b[:len(batchMagic)]) != batchMagic {
		return nil, fmt.Errorf("%w: no header", errBadBatch)
	}
	d := dec{b: b[len(batchMagic):]}
	n := d.count(minRecord)
	msgs := make([]object.RecordMsg, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		msgs = append(msgs, d.record())
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBatch, err)
	}
	return msgs, nil
}
