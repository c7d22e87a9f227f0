package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
)

// Kind tells how a message entered this node's log.
type Kind uint8

const (
	// Local: published through this node (an MQTT client of it, HTTP ingest, a rule, a will).
	// Only these are forwarded and archived by this node, so that a message is shipped once
	// however many nodes and sites log it.
	Local Kind = iota
	// Peer: published through another node of the site, which logs (and ships) it as Local.
	// Its Origin and Seq are that node's and its offset there, so every node of the site logs a
	// message under one id (logs written before peers carried ids hold Peer entries with this
	// node as origin: read as they were, they are never matched against other copies).
	Peer
	// Imported: forwarded from another site; its id is the one its origin gave it.
	Imported
)

func (k Kind) String() string {
	switch k {
	case Local:
		return "local"
	case Peer:
		return "peer"
	case Imported:
		return "imported"
	}
	return "kind" + strconv.Itoa(int(k))
}

// Entry is one message in a log.
type Entry struct {
	Offset  uint64    // position in this node's log of the stream: dense, starting at 0
	Time    time.Time // when it was published, on the node where it entered the mesh
	LogTime time.Time // when this log appended it: never decreases along the log
	Kind    Kind
	Origin  string // node where the message entered the mesh
	Seq     uint64 // its offset in the origin's log: with Origin, the message's unique id
	Topic   string
	Payload []byte
	// From is set by Append on a Local entry (it is not stored): the origin's log has no other
	// Local entry in [From, Seq), so a peer that holds every Local entry of this node below
	// From holds every one below Seq+1 once it logs this one (peersync.go).
	From uint64
}

// ID is the message's unique id: the node it entered through and its offset there. Forwarded
// copies keep it, which is how receivers drop duplicates.
func (e *Entry) ID() string { return e.Origin + "-" + strconv.FormatUint(e.Seq, 10) }

// On disk a record is
//
//	u32 body length | u32 CRC-32C of body | body
//	body: u64 offset | i64 log time | i64 publish time (unix ns) | u8 kind
//	      | u8 len, origin | u64 seq | u16 len, topic | payload (the rest)
//
// all little-endian. The checksum covers everything a reader trusts, so a record torn by a crash
// or damaged on disk is detected, never served.
const (
	headerLen  = 8
	fixedBody  = 8 + 8 + 8 + 1 + 1 + 8 + 2
	maxBodyLen = 8 << 20 // far above a 1 MiB MQTT packet: a larger length is damage
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
	// errTorn means the bytes at a position are not a whole, intact record.
	errTorn = errors.New("torn or damaged record")
)

// recordLen is the encoded size of e.
func recordLen(e *Entry) int {
	return headerLen + fixedBody + len(e.Origin) + len(e.Topic) + len(e.Payload)
}

// appendRecord appends e's encoding to buf.
func appendRecord(buf []byte, e *Entry) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerLen)...)
	buf = binary.LittleEndian.AppendUint64(buf, e.Offset)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.LogTime.UnixNano()))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time.UnixNano()))
	buf = append(buf, byte(e.Kind), byte(len(e.Origin)))
	buf = append(buf, e.Origin...)
	buf = binary.LittleEndian.AppendUint64(buf, e.Seq)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(e.Topic)))
	buf = append(buf, e.Topic...)
	buf = append(buf, e.Payload...)
	body := buf[start+headerLen:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, crcTable))
	return buf
}

// bodyLen reads a record header: the length of the body that follows, or errTorn.
func bodyLen(hdr []byte) (int, uint32, error) {
	n := binary.LittleEndian.Uint32(hdr)
	if n < fixedBody || n > maxBodyLen {
		return 0, 0, fmt.Errorf("%w: body length %d", errTorn, n)
	}
	return int(n), binary.LittleEndian.Uint32(hdr[4:]), nil
}

// decodeBody checks body against its checksum and decodes it. The entry's strings are copies;
// its payload aliases body.
func decodeBody(body []byte, sum uint32) (Entry, error) {
	if crc32.Checksum(body, crcTable) != sum {
		return Entry{}, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	var e Entry
	le := binary.LittleEndian
	e.Offset = le.Uint64(body)
	e.LogTime = time.Unix(0, int64(le.Uint64(body[8:])))
	e.Time = time.Unix(0, int64(le.Uint64(body[16:])))
	e.Kind = Kind(body[24])
	p := 26 + int(body[25])
	if p+8+2 > len(body) {
		return Entry{}, fmt.Errorf("%w: origin overruns the record", errTorn)
	}
	e.Origin = string(body[26:p])
	e.Seq = le.Uint64(body[p:])
	tl := int(le.Uint16(body[p+8:]))
	p += 10
	if p+tl > len(body) {
		return Entry{}, fmt.Errorf("%w: topic overruns the record", errTorn)
	}
	e.Topic = string(body[p : p+tl])
	e.Payload = body[p+tl:]
	return e, nil
}
