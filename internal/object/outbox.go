package object

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
)

// What the geo-replication layer (internal/replicate geo*.go) needs from a replica beyond
// hinted handoff: outboxes read as a feed with a cursor and acknowledged in batches, the oldest
// version still waiting in any outbox (causal stability of tombstones), and removal of single
// records without a new version (tombstone purge, and a site that no longer hosts a bucket
// dropping its copy).

// AddHintLazy stores msg for target like AddHint, but without waiting for the write-ahead log to
// reach the disk: the next durable commit of this node (every replica write is one) syncs it
// too. A crash in between may lose the entry; the cross-site anti-entropy repairs that.
func (s *Store) AddHintLazy(target string, msg RecordMsg) error {
	return s.addHint(target, msg, false, entryWhole)
}

// AddOutbox queues msg for another site. When this node stores the record (a version record
// written here), the entry only names it and the shipper reads it back (ResolveHint); otherwise
// (this node coordinated the write without being one of its replicas, or its own replica write
// has not landed yet) the entry holds the whole record. A reference keeps the record's chunks
// like a whole entry does, so they stay readable until shipped even if the version is
// superseded meanwhile. sync: wait for the disk (see AddHintLazy for the other kind).
func (s *Store) AddOutbox(target string, msg RecordMsg, sync bool) error {
	return s.addHint(target, msg, sync, 0)
}

// AddOutboxRef queues a reference to msg without checking that this node stores it, and keeps
// no chunks: for a target whose shipper reads the key's current state from the site's replicas
// whatever the entry holds (the cloud, shipToCloud).
func (s *Store) AddOutboxRef(target string, msg RecordMsg, sync bool) error {
	return s.addHint(target, msg, sync, entryRef)
}

// addHint stores an entry of the given form (entryWhole, entryRef, or 0: a reference when the
// record is stored here, else whole).
func (s *Store) addHint(target string, msg RecordMsg, sync bool, form byte) error {
	k := append(hintPrefix(target), fmt.Sprintf("%016x%08x", uint64(s.hlc.Now()), hintSeq.Add(1))...)
	var ids []string
	var v []byte
	switch {
	case form == entryRef:
		ref := hintRef{}
		if r, err := decodeHeader(msg.Enc, msg.Version); err == nil {
			ref.nullSlot = r.slotNull()
		}
		v = encodeRefEntry(msg, ref)
	case form == 0 && msg.Kind == 0:
		r, err := decodeHeader(msg.Enc, msg.Version)
		if err != nil {
			return fmt.Errorf("queue %s/%s for %s: %w", msg.Bucket, msg.Key, target, err)
		}
		for _, c := range r.Chunks {
			ids = append(ids, c.ID)
		}
		stored, err := s.db.Has(versionKey(msg.Bucket, msg.Key, msg.Version))
		if err != nil {
			return fmt.Errorf("queue %s/%s for %s: %w", msg.Bucket, msg.Key, target, err)
		}
		if stored {
			v = encodeRefEntry(msg, hintRef{nullSlot: r.slotNull(), chunks: ids})
		} else {
			v = encodeWholeEntry(msg)
		}
	default:
		refs, err := msg.Chunks()
		if err != nil {
			return err
		}
		for _, c := range refs {
			ids = append(ids, c.ID)
		}
		v = encodeWholeEntry(msg)
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(k, v)
	for _, id := range ids {
		b.Set(refKey(id, k), nil)
	}
	if err := b.Commit(sync); err != nil {
		return fmt.Errorf("store hint for %s: %w", target, err)
	}
	return nil
}

// HintsAfter returns up to limit hints for target whose keys sort after `after` (nil: from the
// first), oldest first. Hint keys grow with the node's hybrid clock, so a reader that remembers
// the last key it read sees every later entry exactly once.
func (s *Store) HintsAfter(target string, after []byte, limit int) ([]Hint, error) {
	p := hintPrefix(target)
	it, err := s.db.NewIter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	// Not First and then a seek: First steps over every deleted entry not yet compacted away,
	// which is what the cursor is there to avoid.
	var ok bool
	if after != nil {
		ok = it.SeekGE(after)
		if ok && bytes.Equal(it.Key(), after) {
			ok = it.Next()
		}
	} else {
		ok = it.First()
	}
	var out []Hint
	for ; ok && len(out) < limit; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, err
		}
		m, ref, err := decodeEntry(v, true)
		if err != nil {
			return nil, err
		}
		out = append(out, Hint{Key: append([]byte(nil), it.Key()...), Msg: m, ref: ref})
	}
	return out, nil
}

// HintKeyBefore returns a position in target's hints d earlier than key (a hint key) or than
// oldestAdd, whichever is earlier (zero: ignored). Reading after it skips what was delivered
// before, but not an entry whose key was taken before key's and committed after it was read:
// hint keys come from the hybrid clock, never behind the wall clock, so an add that began at
// oldestAdd or later gets a key after the position.
func HintKeyBefore(target string, key []byte, oldestAdd time.Time, d time.Duration) []byte {
	p := hintPrefix(target)
	if len(key) < len(p)+16 || !bytes.HasPrefix(key, p) {
		return nil
	}
	ts, err := strconv.ParseUint(string(key[len(p):len(p)+16]), 16, 64)
	if err != nil {
		return nil
	}
	const logical = 16 // crdt.Timestamp: milliseconds above 16 logical bits
	if !oldestAdd.IsZero() {
		ts = min(ts, uint64(oldestAdd.UnixMilli())<<logical)
	}
	back := uint64(d.Milliseconds()) << logical
	if ts <= back {
		return nil
	}
	return append(p, fmt.Sprintf("%016x", ts-back)...)
}

// decodeHintMsg decodes a stored hint (RecordMsg JSON). The record's encoding, base64 in the last
// field, is decoded directly: encoding/json scans every byte of the string first, which cost more
// than anything else in shipping small objects to another site.
func decodeHintMsg(v []byte) (RecordMsg, error) {
	var m RecordMsg
	const sep = `,"e":"`
	i := bytes.Index(v, []byte(sep)) // the fields before "e" are strings and numbers, in which an unescaped quote cannot appear
	// "e" must be the last field (a multipart record's "kd" and "sb" follow it: decoded fully).
	if i > 0 && bytes.HasSuffix(v, []byte(`"}`)) && i+len(sep) <= len(v)-2 && bytes.IndexByte(v[i+len(sep):len(v)-2], '"') < 0 {
		head := append(append([]byte(nil), v[:i]...), '}')
		enc := v[i+len(sep) : len(v)-2]
		if err := json.Unmarshal(head, &m); err == nil {
			m.Enc = make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
			if n, err := base64.StdEncoding.Decode(m.Enc, enc); err == nil {
				m.Enc = m.Enc[:n]
				return m, nil
			}
		}
		m = RecordMsg{}
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return RecordMsg{}, fmt.Errorf("decode hint: %w", err)
	}
	return m, nil
}

// HintKeyTime returns the wall-clock part of a hint key's timestamp (zero if key is not one).
func HintKeyTime(target string, key []byte) time.Time {
	p := hintPrefix(target)
	if len(key) < len(p)+16 || !bytes.HasPrefix(key, p) {
		return time.Time{}
	}
	ts, err := strconv.ParseUint(string(key[len(p):len(p)+16]), 16, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(ts >> 16))
}

// DropHints removes delivered hints in one batch and releases their chunks. A batch of records
// without chunks is not synced to disk: a crash may bring such hints back, and they are
// delivered again, which merges to the same state. One whose records hold chunks is synced, so
// that a chunk is never collected while a hint that needs it could come back.
func (s *Store) DropHints(hs []Hint) error {
	if len(hs) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	var ids []string
	for _, h := range hs {
		b.Delete(h.Key)
		for _, id := range h.held() {
			b.Delete(refKey(id, h.Key))
			ids = append(ids, id)
		}
	}
	if err := b.Commit(len(ids) > 0); err != nil {
		return fmt.Errorf("drop %d hints: %w", len(hs), err)
	}
	s.gc.maybeRemove(ids)
	return nil
}

// OldestPending returns the smallest version timestamp of any record waiting in any outbox or
// hint of this node (ok false when none waits). A record older than a tombstone that is still
// on its way somewhere could bring a purged delete back.
func (s *Store) OldestPending() (ts crdt.Timestamp, ok bool, err error) {
	err = s.scan([]byte{tagHint}, func(k, v []byte) (bool, error) {
		m, _, err := decodeEntry(v, false)
		if err != nil {
			return false, err
		}
		if !ok || m.Version.TS < ts {
			ts, ok = m.Version.TS, true
		}
		return true, nil
	})
	return ts, ok, err
}

// IsTombstone reports whether m only records that something was deleted: the tombstone of an
// unversioned delete or a purged version (not a delete marker, which is a visible version).
func (m RecordMsg) IsTombstone() bool {
	r, err := decodeHeader(m.Enc, m.Version)
	return err == nil && (r.Tomb || r.Purged)
}

// HoldsDeletedBy reports whether this replica holds something tombstone m deletes: for an
// unversioned delete, an older live record in the key's null slot; for a purged version, that
// version not yet purged. A replica that holds m, something newer, or nothing of the key cannot
// bring the deleted data back.
func (s *Store) HoldsDeletedBy(m RecordMsg) (bool, error) {
	in, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return false, err
	}
	recs, _, err := s.keyVersions(m.Bucket, m.Key)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if in.Purged {
			if r.version == m.Version && !r.Purged {
				return true, nil
			}
			if in.heldNull() && r.slotNull() && !r.Tomb && r.version.Less(m.Version) {
				return true, nil // an older null record the purged null version replaced (clearsNull)
			}
			continue
		}
		if r.slotNull() && !r.Tomb && r.version.Less(m.Version) {
			return true, nil
		}
	}
	return false, nil
}

// DropRecord removes the record m from this replica, without writing anything in its place, if
// it is still stored exactly as m (a record changed since, such as one tagged or purged, stays).
// It reports whether the record was removed.
func (s *Store) DropRecord(m RecordMsg) (bool, error) {
	unlock := s.lockKey(m.Bucket, m.Key)
	defer unlock()
	vk := versionKey(m.Bucket, m.Key, m.Version)
	cur, err := s.db.Get(vk)
	if err != nil || !bytes.Equal(cur, m.Enc) {
		return false, nil
	}
	r, err := decodeHeader(cur, m.Version)
	if err != nil {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(vk)
	var ds []treeDelta // anti-entropy's index and trees follow (tree.go)
	if err := s.indexRemove(b, m.Bucket, m.Key, vk, &ds); err != nil {
		return false, err
	}
	ids := make([]string, 0, len(r.Chunks))
	for _, c := range r.Chunks {
		b.Delete(refKey(c.ID, vk))
		ids = append(ids, c.ID)
	}
	if err := b.Commit(true); err != nil {
		return false, fmt.Errorf("drop %s/%s: %w", m.Bucket, m.Key, err)
	}
	s.tree.apply(ds)
	s.gc.maybeRemove(ids)
	return true, nil
}

// ScanBucket calls fn for every record of bucket on this replica, in key order.
func (s *Store) ScanBucket(ctx context.Context, bucket string, fn func(RecordMsg) error) error {
	return s.scanBucket(ctx, bucket, false, fn)
}

// ScanBucketHeads is ScanBucket with each record's encoding cut after its header (no inline
// data): enough to identify records and read their flags, without copying every object's bytes.
func (s *Store) ScanBucketHeads(ctx context.Context, bucket string, fn func(RecordMsg) error) error {
	return s.scanBucket(ctx, bucket, true, fn)
}

func (s *Store) scanBucket(ctx context.Context, bucket string, heads bool, fn func(RecordMsg) error) error {
	p := objPrefix(bucket)
	return s.scan(p, func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		key, ver, ok := splitVersionKey(k, len(p))
		if !ok {
			return true, nil
		}
		m := RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: v}
		if heads {
			m, _ = HeadOf(m)
		}
		m.Enc = append([]byte(nil), m.Enc...)
		return true, fn(m)
	})
}
