package object

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
)

// Heads are what a replica answers to a coordinator's read: a key's version records without
// their inline data, so that finding the newest version costs a few hundred bytes on the wire
// whatever the objects' sizes. The data then comes from one replica that has the winning
// version (replicate's read path). A head must never be merged or served as data: only the
// replication layer's read path handles heads, and it keeps them apart from full records.

// HeadOf returns m without its inline data, and whether m had any (then the result is only a
// head; otherwise it is m itself, complete).
func HeadOf(m RecordMsg) (RecordMsg, bool) {
	n, w := binary.Uvarint(m.Enc)
	if w <= 0 || uint64(len(m.Enc)-w) < n {
		return m, false // malformed: left whole, decoding reports it
	}
	end := w + int(n)
	if end == len(m.Enc) {
		return m, false
	}
	m.Enc = m.Enc[:end:end]
	return m, true
}

// StoredRecords returns the stored records of bucket/key newest first: whole with withData,
// else as heads, where cut[i] reports whether msgs[i] had inline data removed. The encodings are
// the stored bytes, as ScanRecords gives them, so fingerprints agree with anti-entropy's.
func (s *Store) StoredRecords(bucket, key string, withData bool) (msgs []RecordMsg, cut []bool, err error) {
	p := keyPrefix(bucket, key)
	plen := len(objPrefix(bucket))
	err = s.scan(p, func(k, v []byte) (bool, error) {
		_, ver, ok := splitVersionKey(k, plen)
		if !ok || len(k) != len(p)+16 {
			return true, nil
		}
		m, c := RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: v}, false
		if !withData {
			m, c = HeadOf(m)
		}
		m.Enc = append([]byte(nil), m.Enc...)
		msgs = append(msgs, m)
		cut = append(cut, c)
		return true, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("records of %s/%s: %w", bucket, key, err)
	}
	return msgs, cut, nil
}

// ErrNoRecord is returned by KeyRecord when the version is not stored here.
var ErrNoRecord = errors.New("version record not stored here")

// KeyRecord returns the full stored record of one version of bucket/key.
func (s *Store) KeyRecord(bucket, key string, v crdt.Version) (RecordMsg, error) {
	enc, err := s.db.Get(versionKey(bucket, key, v))
	if errors.Is(err, metastore.ErrNotFound) {
		return RecordMsg{}, ErrNoRecord
	}
	if err != nil {
		return RecordMsg{}, fmt.Errorf("record of %s/%s: %w", bucket, key, err)
	}
	return RecordMsg{Bucket: bucket, Key: key, Version: v, Enc: enc}, nil
}
