package replicate

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

// The body of a shipping RPC (POST /rpc/geo/apply) is binary: JSON spent most of both sides' CPU
// on base64 and on scanning the inline data of small objects. Layout:
//
//	"MCB1" count(uvarint) { len(bucket) bucket len(key) key ts(8) node(8) len(enc) enc }*
//
// lengths as uvarints, numbers big-endian.

const batchMagic = "MCB1"

var errBadBatch = errors.New("malformed record batch")

func encodeBatch(msgs []object.RecordMsg) []byte {
	n := len(batchMagic) + binary.MaxVarintLen64
	for _, m := range msgs {
		n += 3*binary.MaxVarintLen64 + 16 + len(m.Bucket) + len(m.Key) + len(m.Enc)
	}
	b := make([]byte, 0, n)
	b = append(b, batchMagic...)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		b = appendBytes(b, []byte(m.Bucket))
		b = appendBytes(b, []byte(m.Key))
		b = binary.BigEndian.AppendUint64(b, uint64(m.Version.TS))
		b = binary.BigEndian.AppendUint64(b, m.Version.Node)
		b = appendBytes(b, m.Enc)
	}
	return b
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// decodeBatch parses a batch; the records' Enc alias b.
func decodeBatch(b []byte) ([]object.RecordMsg, error) {
	if len(b) < len(batchMagic) || string(b[:len(batchMagic)]) != batchMagic {
		return nil, fmt.Errorf("%w: no header", errBadBatch)
	}
	b = b[len(batchMagic):]
	count, w := binary.Uvarint(b)
	if w <= 0 || count > uint64(len(b)) { // every record takes more than one byte
		return nil, fmt.Errorf("%w: bad count", errBadBatch)
	}
	b = b[w:]
	msgs := make([]object.RecordMsg, 0, count)
	for i := uint64(0); i < count; i++ {
		var bucket, key, enc []byte
		var err error
		if bucket, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if key, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if len(b) < 16 {
			return nil, fmt.Errorf("%w: short version", errBadBatch)
		}
		v := crdt.Version{TS: crdt.Timestamp(binary.BigEndian.Uint64(b)), Node: binary.BigEndian.Uint64(b[8:])}
		b = b[16:]
		if enc, b, err = readBytes(b); err != nil {
			return nil, err
		}
		msgs = append(msgs, object.RecordMsg{Bucket: string(bucket), Key: string(key), Version: v, Enc: enc})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record", errBadBatch, len(b))
	}
	return msgs, nil
}

func readBytes(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, fmt.Errorf("%w: bad length", errBadBatch)
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}
