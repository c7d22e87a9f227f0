package object

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/crdt"
)

// The stored form of a hint or outbox entry ('h' target 0 seq -> entry). Three forms:
//
//	'{' ...                          RecordMsg as JSON: entries written before the binary forms
//	                                 (still read and shipped as they are, then dropped)
//	0x01 ident kind(1) sub enc...    the whole record (hinted handoff, and outbox entries whose
//	                                 record is not stored on this node)
//	0x02 ident flags(1) n id*n       a reference: the record is read from the store when shipped;
//	                                 ids are the chunks the entry keeps from collection
//
// ident is bucket, key (each uvarint length, bytes), version TS and node (8 bytes big-endian).
// A reference costs ~60 bytes in the write-ahead log instead of the record a second time (with
// JSON's base64, 22 KB for a 16 KiB object): that was the largest cost of geo-replication at the
// writing site.
const (
	entryWhole = 0x01
	entryRef   = 0x02

	refNullSlot = 1 // flags: the record held the key's null slot when queued
)

var errEntry = errors.New("malformed hint entry")

// hintRef is what a reference entry holds besides the record's identity.
type hintRef struct {
	nullSlot bool
	chunks   []string // ids the entry keeps from collection until dropped
}

func appendIdent(b []byte, m RecordMsg) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Bucket)))
	b = append(b, m.Bucket...)
	b = binary.AppendUvarint(b, uint64(len(m.Key)))
	b = append(b, m.Key...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Version.TS))
	return binary.BigEndian.AppendUint64(b, m.Version.Node)
}

func encodeWholeEntry(m RecordMsg) []byte {
	b := make([]byte, 0, 32+len(m.Bucket)+len(m.Key)+len(m.Sub)+len(m.Enc))
	b = appendIdent(append(b, entryWhole), m)
	b = append(b, m.Kind)
	b = binary.AppendUvarint(b, uint64(len(m.Sub)))
	b = append(b, m.Sub...)
	return append(b, m.Enc...)
}

func encodeRefEntry(m RecordMsg, ref hintRef) []byte {
	b := make([]byte, 0, 32+len(m.Bucket)+len(m.Key)+len(ref.chunks)*72)
	b = appendIdent(append(b, entryRef), m)
	var flags byte
	if ref.nullSlot {
		flags |= refNullSlot
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(ref.chunks)))
	for _, id := range ref.chunks {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

// entryReader reads the binary forms; the first error sticks.
type entryReader struct {
	b   []byte
	err error
}

func (r *entryReader) fail() {
	if r.err == nil {
		r.err = errEntry
	}
	r.b = nil
}

func (r *entryReader) bytes() []byte {
	n, w := binary.Uvarint(r.b)
	if w <= 0 || n > uint64(len(r.b)-w) {
		r.fail()
		return nil
	}
	out := r.b[w : w+int(n)]
	r.b = r.b[w+int(n):]
	return out
}

func (r *entryReader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *entryReader) byte1() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *entryReader) ident() RecordMsg {
	var m RecordMsg
	m.Bucket = string(r.bytes())
	m.Key = string(r.bytes())
	m.Version = crdt.Version{TS: crdt.Timestamp(r.u64()), Node: r.u64()}
	return m
}

// decodeEntry decodes a stored entry of any form. Nothing returned aliases v. withData false
// leaves a whole entry's Enc empty (for callers that need the identity only).
func decodeEntry(v []byte, withData bool) (RecordMsg, *hintRef, error) {
	if len(v) == 0 {
		return RecordMsg{}, nil, fmt.Errorf("decode hint: %w: empty", errEntry)
	}
	switch v[0] {
	case entryWhole:
		r := entryReader{b: v[1:]}
		m := r.ident()
		m.Kind = r.byte1()
		m.Sub = string(r.bytes())
		if r.err != nil {
			return RecordMsg{}, nil, fmt.Errorf("decode hint: %w", r.err)
		}
		if withData {
			m.Enc = append([]byte{}, r.b...)
		}
		return m, nil, nil
	case entryRef:
		r := entryReader{b: v[1:]}
		m := r.ident()
		ref := &hintRef{nullSlot: r.byte1()&refNullSlot != 0}
		n, w := binary.Uvarint(r.b)
		// Each id takes at least one byte: a count beyond what is left is malformed (and is not
		// allocated for).
		if w <= 0 || n > uint64(len(r.b)-w) {
			r.fail()
		} else {
			r.b = r.b[w:]
			ref.chunks = make([]string, 0, n)
			for i := uint64(0); i < n && r.err == nil; i++ {
				ref.chunks = append(ref.chunks, string(r.bytes()))
			}
		}
		if r.err == nil && len(r.b) != 0 {
			r.fail()
		}
		if r.err != nil {
			return RecordMsg{}, nil, fmt.Errorf("decode hint: %w", r.err)
		}
		return m, ref, nil
	default:
		m, err := decodeHintMsg(v)
		if !withData {
			m.Enc = nil
		}
		return m, nil, err
	}
}
