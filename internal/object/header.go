package object

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
)

// A record's header is stored in a compact binary form: every read, listing and replica answer
// decodes headers, and decoding JSON was most of a site listing's CPU (the coordinator decodes
// each listed key's header several times) and a tenth of a site GET's. Headers written as JSON
// (before this format) are still read: a JSON header starts with '{', a binary one with its
// format byte.
//
// Format 1: the byte 1, then
//
//	flags uvarint (1 Null, 2 Del, 4 Tomb, 8 Purged), Size uvarint, ETag,
//	Meta: ContentType ContentEncoding ContentDisposition ContentLanguage CacheControl Expires
//	      StorageClass, User map,
//	Sum: Algorithm Value, Tags map,
//	PartEnds: count × uvarint, Chunks: count × (ID, Size uvarint, CRC uvarint),
//	InlineCRC uvarint, MetaTS uvarint
//
// where a string is uvarint(len) bytes and a map is count × (key, value) in key order (so that
// one record always encodes to the same bytes: replicas compare records by their bytes).
const headerFormat1 = 1

const (
	flagNull = 1 << iota
	flagDel
	flagTomb
	flagPurged
)

var errHeader = errors.New("malformed record header")

func (r *record) appendHeader(b []byte) []byte {
	var flags uint64
	for i, set := range []bool{r.Null, r.Del, r.Tomb, r.Purged} {
		if set {
			flags |= 1 << i
		}
	}
	b = append(b, headerFormat1)
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, uint64(r.Size))
	b = appendStr(b, r.ETag)
	m := &r.Meta
	for _, s := range []string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires, m.StorageClass} {
		b = appendStr(b, s)
	}
	b = appendMap(b, m.User)
	b = appendStr(b, r.Sum.Algorithm)
	b = appendStr(b, r.Sum.Value)
	b = appendMap(b, r.Tags)
	b = binary.AppendUvarint(b, uint64(len(r.PartEnds)))
	for _, e := range r.PartEnds {
		b = binary.AppendUvarint(b, uint64(e))
	}
	b = binary.AppendUvarint(b, uint64(len(r.Chunks)))
	for _, c := range r.Chunks {
		b = appendStr(b, c.ID)
		b = binary.AppendUvarint(b, uint64(c.Size))
		b = binary.AppendUvarint(b, uint64(c.CRC))
	}
	b = binary.AppendUvarint(b, uint64(r.InlineCRC))
	return binary.AppendUvarint(b, uint64(r.MetaTS))
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, m[k])
	}
	return b
}

// headerReader reads a binary header; the first failure sticks and later reads return zeros.
type headerReader struct {
	b   []byte
	bad bool
}

func (h *headerReader) uvarint() uint64 {
	v, n := binary.Uvarint(h.b)
	if n <= 0 {
		h.bad, h.b = true, nil
		return 0
	}
	h.b = h.b[n:]
	return v
}

// int reads a non-negative int64.
func (h *headerReader) int() int64 {
	v := h.uvarint()
	if v > 1<<63-1 {
		h.bad = true
		return 0
	}
	return int64(v)
}

func (h *headerReader) str() string {
	n := h.uvarint()
	if n > uint64(len(h.b)) {
		h.bad, h.b = true, nil
		return ""
	}
	s := string(h.b[:n])
	h.b = h.b[n:]
	return s
}

// count reads a count of items of at least min bytes each, bounded by what is left.
func (h *headerReader) count(min int) int {
	n := h.uvarint()
	if n > uint64(len(h.b)/min) {
		h.bad, h.b = true, nil
		return 0
	}
	return int(n)
}

func (h *headerReader) strMap() map[string]string {
	n := h.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k := h.str()
		m[k] = h.str()
	}
	return m
}

// decodeBinaryHeader fills r from a format-1 header (b without the format byte).
func (r *record) decodeBinaryHeader(b []byte) error {
	h := headerReader{b: b}
	flags := h.uvarint()
	r.Null, r.Del, r.Tomb, r.Purged = flags&flagNull != 0, flags&flagDel != 0, flags&flagTomb != 0, flags&flagPurged != 0
	r.Size = h.int()
	r.ETag = h.str()
	m := &r.Meta
	for _, p := range []*string{&m.ContentType, &m.ContentEncoding, &m.ContentDisposition, &m.ContentLanguage, &m.CacheControl, &m.Expires, &m.StorageClass} {
		*p = h.str()
	}
	m.User = h.strMap()
	r.Sum.Algorithm = h.str()
	r.Sum.Value = h.str()
	r.Tags = h.strMap()
	if n := h.count(1); n > 0 {
		r.PartEnds = make([]int64, n)
		for i := range r.PartEnds {
			r.PartEnds[i] = h.int()
		}
	}
	if n := h.count(3); n > 0 {
		r.Chunks = make([]blobstore.Ref, n)
		for i := range r.Chunks {
			c := &r.Chunks[i]
			c.ID = h.str()
			c.Size = h.int()
			crc := h.uvarint()
			if crc > 1<<32-1 {
				h.bad = true
			}
			c.CRC = uint32(crc)
		}
	}
	crc := h.uvarint()
	if crc > 1<<32-1 {
		h.bad = true
	}
	r.InlineCRC = uint32(crc)
	r.MetaTS = crdt.Timestamp(h.uvarint())
	if h.bad {
		return errHeader
	}
	if len(h.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errHeader, len(h.b))
	}
	return nil
}
