package object

import (
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/metastore"
)

// What the shipper sends for a reference entry (AddOutbox): the record the entry names, as the
// store holds it now, or, if that version is no longer stored, what superseded it. Why that is
// equivalent to shipping the record as it was queued:
//
//   - The same version changed since (tags, a purge by DELETE ?versionId): records of one version
//     merge by "purge wins, then the later metadata change", so the receiver ends in the same
//     state whether it gets the queued record and then the change, or the change alone.
//   - A record of the key's null slot (an unversioned write or delete, a null version) was
//     removed by a newer one: the null slot is a last-writer-wins register, so the queued record
//     would lose to the newer one at the receiver anyway (and the newer one has an entry of its
//     own). If the newer one was purged since, its purged record still clears every older
//     record of the slot (MergeRecord), as the version it replaced did.
//   - Nothing of either is stored: tombstones and purged records are removed only once no
//     outbox of the mesh holds an older change of the key (geopurge.go), and a reference is
//     written only while its record is stored here, so this means a record moved away by a
//     layout change or dropped with a bucket this site stopped hosting. The caller then asks the
//     site's replicas (PickForHint); if none holds anything either, the change is gone from the
//     site and there is nothing left to ship (the cross-site anti-entropy compares what remains).

// ResolveHint returns the record to ship for h, read from this node's store. ok is false when
// the store holds neither h's version nor a record that superseded it. A whole entry resolves
// to its own record.
func (s *Store) ResolveHint(h Hint) (m RecordMsg, ok bool, err error) {
	if h.ref == nil {
		return h.Msg, true, nil
	}
	id := h.Msg
	v, err := s.db.Get(versionKey(id.Bucket, id.Key, id.Version))
	if err == nil {
		return RecordMsg{Bucket: id.Bucket, Key: id.Key, Version: id.Version, Enc: v}, true, nil
	}
	if !errors.Is(err, metastore.ErrNotFound) {
		return RecordMsg{}, false, fmt.Errorf("resolve %s/%s: %w", id.Bucket, id.Key, err)
	}
	if !h.ref.nullSlot {
		return RecordMsg{}, false, nil
	}
	p := keyPrefix(id.Bucket, id.Key)
	plen := len(objPrefix(id.Bucket))
	err = s.scan(p, func(k, v []byte) (bool, error) {
		_, ver, valid := splitVersionKey(k, plen)
		if !valid || len(k) != len(p)+16 {
			return true, nil
		}
		if !id.Version.Less(ver) {
			return false, nil // versions sort newest first: the rest are older
		}
		r, err := decodeHeader(v, ver)
		if err != nil {
			return false, fmt.Errorf("resolve %s/%s: %w", id.Bucket, id.Key, err)
		}
		if r.heldNull() {
			m, ok = RecordMsg{Bucket: id.Bucket, Key: id.Key, Version: ver, Enc: append([]byte(nil), v...)}, true
			return false, nil
		}
		return true, nil
	})
	return m, ok, err
}

// PickForHint is ResolveHint over records read elsewhere (the site's replicas): the record of
// h's version, else the newest that superseded it, else ok false.
func PickForHint(h Hint, recs []RecordMsg) (m RecordMsg, ok bool) {
	if h.ref == nil {
		return h.Msg, true
	}
	id := h.Msg
	for _, r := range recs {
		if r.Kind == 0 && r.Bucket == id.Bucket && r.Key == id.Key && r.Version == id.Version {
			return r, true
		}
	}
	if !h.ref.nullSlot {
		return RecordMsg{}, false
	}
	for _, r := range recs {
		if r.Kind != 0 || r.Bucket != id.Bucket || r.Key != id.Key || !id.Version.Less(r.Version) {
			continue
		}
		if ok && !m.Version.Less(r.Version) {
			continue
		}
		if hr, err := decodeHeader(r.Enc, r.Version); err == nil && hr.heldNull() {
			m, ok = r, true
		}
	}
	return m, ok
}

// heldNull reports whether the record is or was the key's null-slot record: a null version or
// a tombstone, purged since or not. Every null-slot record older than it lost to it.
func (r *record) heldNull() bool { return r.Null || r.Tomb }
