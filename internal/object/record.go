package object

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
)

// record is a version record: everything about one version of an object, the unit that
// replication ships and merges. Small objects carry their data inline (one write, one fsync);
// larger ones list content-addressed chunks.
type record struct {
	Null      bool              `json:"nv,omitempty"` // the "null" version (written while versioning was off)
	Del       bool              `json:"d,omitempty"`  // delete marker
	Tomb      bool              `json:"tb,omitempty"` // tombstone of an unversioned delete: invisible, kept for replication
	Size      int64             `json:"s,omitempty"`
	ETag      string            `json:"e,omitempty"`
	Meta      Meta              `json:"m,omitempty"`
	Sum       Checksum          `json:"k,omitempty"`
	Tags      map[string]string `json:"tg,omitempty"`
	PartEnds  []int64           `json:"pe,omitempty"` // cumulative sizes of multipart parts, for GET ?partNumber
	Chunks    []blobstore.Ref   `json:"c,omitempty"`
	InlineCRC uint32            `json:"ic,omitempty"`
	// MetaTS orders metadata changes of one version (tagging), which keep the version's id.
	MetaTS crdt.Timestamp `json:"mt,omitempty"`
	// Purged marks a named version deleted by DELETE ?versionId: kept so replicas that missed
	// the delete do not bring the version back.
	Purged bool `json:"pg,omitempty"`

	// Not encoded in the JSON header.
	version crdt.Version
	inline  []byte
	// raw, when set, is the record's encoding as received (binary header), stored as it is
	// instead of encoding the record again (MergeRecord): a copy and an allocation of the
	// inline data less per replicated write.
	raw []byte
}

// encode lays a record out as uvarint(len(header)) header inline-data.
func (r *record) encode() ([]byte, error) {
	if r.raw != nil {
		return r.raw, nil
	}
	h := r.appendHeader(make([]byte, 0, 128))
	out := make([]byte, 0, binary.MaxVarintLen64+len(h)+len(r.inline))
	out = binary.AppendUvarint(out, uint64(len(h)))
	out = append(out, h...)
	return append(out, r.inline...), nil
}

func decodeRecord(b []byte, v crdt.Version) (*record, error) { return decode(b, v, true) }

// decodeKeepRaw decodes b for storing it again: a binary-header record keeps b as its encoding
// (raw) and is not copied; one with a JSON header is decoded whole, to be stored re-encoded.
// b must not change while the record is in use.
func decodeKeepRaw(b []byte, v crdt.Version) (*record, error) {
	n, w := binary.Uvarint(b)
	if w > 0 && n > 0 && uint64(len(b)-w) >= n && b[w] == headerFormat1 {
		r, err := decode(b, v, false)
		if err != nil {
			return nil, err
		}
		r.raw = b
		return r, nil
	}
	return decode(b, v, true)
}

// decodeHeader decodes a record without its inline data, for listings.
func decodeHeader(b []byte, v crdt.Version) (*record, error) { return decode(b, v, false) }

func decode(b []byte, v crdt.Version, withData bool) (*record, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, fmt.Errorf("decode record: bad header length")
	}
	r := &record{version: v}
	h := b[w : w+int(n)]
	switch {
	case len(h) > 0 && h[0] == headerFormat1:
		if err := r.decodeBinaryHeader(h[1:]); err != nil {
			return nil, fmt.Errorf("decode record: %w", err)
		}
	default: // a header from before the binary format
		if err := json.Unmarshal(h, r); err != nil {
			return nil, fmt.Errorf("decode record: %w", err)
		}
		if !r.sizesValid() {
			return nil, fmt.Errorf("decode record: %w: negative size", errHeader)
		}
	}
	if rest := b[w+int(n):]; withData && len(rest) > 0 {
		r.inline = append([]byte(nil), rest...)
	}
	return r, nil
}

// sizesValid reports whether no size in r is negative (a JSON header could say so; the binary
// form cannot).
func (r *record) sizesValid() bool {
	if r.Size < 0 {
		return false
	}
	for _, e := range r.PartEnds {
		if e < 0 {
			return false
		}
	}
	for _, c := range r.Chunks {
		if c.Size < 0 {
			return false
		}
	}
	return true
}

func (r *record) hidden() bool { return r.Tomb || r.Purged }

func (r *record) versionID() string {
	if r.Null {
		return NullVersion
	}
	return versionID(r.version)
}

func (r *record) info(bucket, key string, latest bool) ObjectInfo {
	return ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		VersionID:    r.versionID(),
		IsLatest:     latest,
		DeleteMarker: r.Del,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.version.TS.Physical().UTC().Truncate(time.Millisecond),
		Meta:         r.Meta,
		Checksum:     r.Sum,
		TagCount:     len(r.Tags),
		PartCount:    len(r.PartEnds),
	}
}
