package replicate

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

// The binary encoding of the hot RPC operations (ops.go): records as length-prefixed fields
// instead of JSON with base64 data, which cost more CPU than the merge itself for small objects.
// Everything a peer sends is decoded with bounds checks: a malformed or truncated message is an
// error, never a panic or an allocation beyond the message's own size (FuzzDecode).

var errShort = errors.New("rpc message truncated or malformed")

// enc appends fields to a message.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *enc) version(v crdt.Version) {
	e.uvarint(uint64(v.TS))
	e.uvarint(v.Node)
}

func (e *enc) record(m object.RecordMsg) {
	e.str(m.Bucket)
	e.str(m.Key)
	e.version(m.Version)
	e.bytes(m.Enc)
	e.b = append(e.b, m.Kind)
	e.str(m.Sub)
}

// dec reads fields from a message; the first failure sticks in err and every later read
// returns zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that follow, each at least min bytes long: a count the rest of
// the message cannot hold is malformed (so a hostile count cannot make the reader allocate).
func (d *dec) count(min int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

// bytes returns the next length-prefixed field, aliasing the message.
func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *dec) version() crdt.Version {
	return crdt.Version{TS: crdt.Timestamp(d.uvarint()), Node: d.uvarint()}
}

func (d *dec) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// record decodes a record message; every field of object.RecordMsg travels (a field left out
// here would silently turn, say, a multipart record into a malformed version record).
func (d *dec) record() object.RecordMsg {
	return object.RecordMsg{Bucket: d.str(), Key: d.str(), Version: d.version(), Enc: d.bytes(), Kind: d.byte(), Sub: d.str()}
}

// done fails unless the whole message was read.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("rpc message: %d unexpected trailing bytes", len(d.b))
	}
	return d.err
}

// minRecord is the smallest encoding of a record (empty or zero fields).
const minRecord = 7
