package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PeerEntry is a message as one node of a site hands it to another to log: the stream it was
// logged in, and its id there (the origin's node id, from the batch, and Seq, its offset in the
// origin's log of that stream), so that every node logs it under the same id and can tell a
// copy it already has from one it lacks.
type PeerEntry struct {
	Stream string
	Seq    uint64
	From   uint64 // live copies: the origin has no other Local entry in [From, Seq) (Entry.From)
	// Live copies: the opening of the origin's log that logged it (Log.opened, Log.base): a
	// later one may reuse offsets from Base on.
	Opened  uint64
	Base    uint64
	Time    time.Time
	Topic   string
	Payload []byte
}

// PeerBatch is what travels between the nodes of a site: the live copies of messages a node
// logged (Entries only), or its answer to a peer catching up (Manager.LocalSince): its Local
// entries of one stream from an offset on, and where its log stands.
type PeerBatch struct {
	Origin string
	// Catch-up answers only: the origin's first retained offset, the offset after the last
	// entry it looked at (every Local entry below it and at or after the asked offset is in
	// Entries) and its committed end.
	First, Next, End uint64
	// Catch-up answers only: the opening of the origin's log (see PeerEntry).
	Opened, Base uint64
	// Relayed answers (Manager.OriginSince: another node's copies of the origin's entries)
	// only: every entry of the origin below Held is in the answering node's log, and Next,
	// End are positions in that log (Next: where to ask on; End: past every entry counted in
	// Held).
	Held    uint64
	Entries []PeerEntry
}

// The encoding, all integers unsigned varints unless said otherwise:
//
//	u8 version (1) | origin (len, bytes) | first | next | end | opened | base | held | count
//	count x ( stream (len, bytes) | seq | from | opened | base | time (i64 little-endian, unix ns)
//	          | topic (len, bytes) | payload (len, bytes) )
//
// A stream name, entry payload or string can be no longer than maxBodyLen: anything longer is
// damage, refused before anything is allocated for it.
const peerWireVersion = 1

// errPeerWire marks a batch that does not decode.
var errPeerWire = errors.New("bad peer batch")

// AppendPeerBatch appends b's encoding to buf.
func AppendPeerBatch(buf []byte, b *PeerBatch) []byte {
	buf = append(buf, peerWireVersion)
	buf = appendBytes(buf, []byte(b.Origin))
	buf = binary.AppendUvarint(buf, b.First)
	buf = binary.AppendUvarint(buf, b.Next)
	buf = binary.AppendUvarint(buf, b.End)
	buf = binary.AppendUvarint(buf, b.Opened)
	buf = binary.AppendUvarint(buf, b.Base)
	buf = binary.AppendUvarint(buf, b.Held)
	buf = binary.AppendUvarint(buf, uint64(len(b.Entries)))
	for i := range b.Entries {
		e := &b.Entries[i]
		buf = appendBytes(buf, []byte(e.Stream))
		buf = binary.AppendUvarint(buf, e.Seq)
		buf = binary.AppendUvarint(buf, e.From)
		buf = binary.AppendUvarint(buf, e.Opened)
		buf = binary.AppendUvarint(buf, e.Base)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time.UnixNano()))
		buf = appendBytes(buf, []byte(e.Topic))
		buf = appendBytes(buf, e.Payload)
	}
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// DecodePeerBatch decodes a batch. Payloads alias data; strings are copies.
func DecodePeerBatch(data []byte) (PeerBatch, error) {
	d := peerDecoder{data: data}
	var b PeerBatch
	if v := d.byte(); d.err == nil && v != peerWireVersion {
		return b, fmt.Errorf("%w: version %d", errPeerWire, v)
	}
	b.Origin = string(d.bytes())
	b.First, b.Next, b.End = d.uvarint(), d.uvarint(), d.uvarint()
	b.Opened, b.Base, b.Held = d.uvarint(), d.uvarint(), d.uvarint()
	n := d.uvarint()
	// Each entry takes at least 12 bytes: a count beyond what is left is damage, not a reason
	// to allocate.
	if d.err == nil && n > uint64(len(d.data))/12 {
		return b, fmt.Errorf("%w: %d entries in %d bytes", errPeerWire, n, len(d.data))
	}
	if n > 0 {
		b.Entries = make([]PeerEntry, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e PeerEntry
		e.Stream = string(d.bytes())
		e.Seq, e.From = d.uvarint(), d.uvarint()
		e.Opened, e.Base = d.uvarint(), d.uvarint()
		e.Time = time.Unix(0, int64(d.u64()))
		e.Topic = string(d.bytes())
		e.Payload = d.bytes()
		b.Entries = append(b.Entries, e)
	}
	if d.err == nil && len(d.data) > 0 {
		d.err = fmt.Errorf("%w: %d bytes after the last entry", errPeerWire, len(d.data))
	}
	if d.err != nil {
		return PeerBatch{}, d.err
	}
	return b, nil
}

// peerDecoder reads a batch front to back; the first error sticks and every later read
// returns zero values.
type peerDecoder struct {
	data []byte
	err  error
}

func (d *peerDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errPeerWire, what)
	}
	d.data = nil
}

func (d *peerDecoder) byte() byte {
	if len(d.data) < 1 {
		d.fail("header")
		return 0
	}
	v := d.data[0]
	d.data = d.data[1:]
	return v
}

func (d *peerDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *peerDecoder) u64() uint64 {
	if len(d.data) < 8 {
		d.fail("time")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.data)
	d.data = d.data[8:]
	return v
}

func (d *peerDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxBodyLen || n > uint64(len(d.data)) {
		d.fail("string")
		return nil
	}
	v := d.data[:n:n]
	d.data = d.data[n:]
	return v
}
