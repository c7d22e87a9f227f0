package object

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
)

// This file is the replica side of the object layer: what the replication layer needs to move
// version records and chunks between nodes and to merge them. Records merge as a CRDT: a key's
// state is the set of its versions, where the "null" version slot (unversioned writes, deletes)
// is a last-writer-wins register, and a purge of a named version wins over that version.

// RecordMsg is one version record on the wire: its identity and its encoding (which carries
// inline data and chunk references).
type RecordMsg struct {
	Bucket  string       `json:"b"`
	Key     string       `json:"k"`
	Version crdt.Version `json:"v"`
	Enc     []byte       `json:"e"`
	// Kind is 0 for a version record, KindUpload or KindPart for multipart state (multipart.go),
	// whose upload id (and part number) Sub names.
	Kind byte   `json:"kd,omitempty"`
	Sub  string `json:"sb,omitempty"`
}

// ErrMissingChunks is returned by MergeRecord when the record references chunks this node does
// not have; the sender must ship them first.
var ErrMissingChunks = errors.New("record references chunks this node lacks")

// Chunks lists the chunk ids a record message references.
func (m RecordMsg) Chunks() ([]blobstore.Ref, error) {
	switch m.Kind {
	case KindUpload:
		return nil, nil
	case KindPart:
		var p partRecord
		if err := json.Unmarshal(m.Enc, &p); err != nil {
			return nil, fmt.Errorf("decode part record: %w", err)
		}
		return p.Chunks, nil
	}
	r, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return nil, err
	}
	return r.Chunks, nil
}

// Newer reports whether m's record should win over o's for the same key's null slot or version.
func (m RecordMsg) Newer(o RecordMsg) bool { return o.Version.Less(m.Version) }

func (s *Store) msg(bucket, key string, r *record) (RecordMsg, error) {
	enc, err := r.encode()
	return RecordMsg{Bucket: bucket, Key: key, Version: r.version, Enc: enc}, err
}

// KeyRecords returns every stored record of bucket/key, newest first.
func (s *Store) KeyRecords(bucket, key string) ([]RecordMsg, error) {
	recs, _, err := s.keyVersions(bucket, key)
	if err != nil {
		return nil, err
	}
	out := make([]RecordMsg, 0, len(recs))
	for _, r := range recs {
		m, err := s.msg(bucket, key, r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// MergeRecord merges a record from another node (or from this node's coordinator path) into the
// local state, durably. It reports whether anything changed.
func (s *Store) MergeRecord(m RecordMsg) (bool, error) {
	switch m.Kind {
	case 0:
	case KindUpload:
		return s.mergeUpload(m)
	case KindPart:
		changed, err := s.mergePart(m)
		if errors.Is(err, errDoneUpload) {
			return false, nil // the upload ended: its parts are not wanted any more
		}
		return changed, err
	default:
		return false, fmt.Errorf("unknown record kind %d", m.Kind)
	}
	in, err := decodeKeepRaw(m.Enc, m.Version)
	if err != nil {
		return false, err
	}
	for _, c := range in.Chunks {
		if !s.blobs.Has(c.ID) {
			return false, fmt.Errorf("merge %s/%s: chunk %s: %w", m.Bucket, m.Key, c.ID, ErrMissingChunks)
		}
	}
	s.hlc.Observe(m.Version.TS)
	unlock := s.lockKey(m.Bucket, m.Key)
	defer unlock()
	recs, keys, err := s.keyVersions(m.Bucket, m.Key)
	if err != nil {
		return false, err
	}
	c := commit{recs: recs, keys: keys}
	for i, old := range recs {
		if old.version == in.version {
			// Same version: a purge wins; otherwise the later metadata change (tags) wins.
			if in.Purged && !old.Purged || in.MetaTS > old.MetaTS {
				c.remove = append(c.remove, i)
				continue
			}
			return false, nil
		}
		if in.slotNull() && old.slotNull() {
			if old.version.Less(in.version) {
				c.remove = append(c.remove, i)
			} else {
				return false, nil // a newer write already owns the null slot
			}
		}
		if clearsNull(in, old) {
			c.remove = append(c.remove, i)
		}
		if clearsNull(old, in) {
			return false, nil
		}
	}
	c.add = in
	if err := s.apply(m.Bucket, m.Key, c); err != nil {
		return false, err
	}
	return true, nil
}

// slotNull reports whether the record occupies the key's single null-version slot.
func (r *record) slotNull() bool { return (r.Null || r.Tomb) && !r.Purged }

// clearsNull reports whether p, a purged record of a null version, removes r, an older record of
// the null slot. The null version p names held the slot, so every older record of the slot lost
// to it, and still has lost after the purge: a replica that gets the purged record without
// having had the version (it missed it, or the version was purged before another site's outbox
// shipped it, outboxref.go) must not keep the older record, which every other replica dropped.
func clearsNull(p, r *record) bool {
	return p.Purged && p.heldNull() && r.slotNull() && r.version.Less(p.version)
}

// PutChunk stores a chunk received from another node and makes it durable.
func (s *Store) PutChunk(data []byte) (blobstore.Ref, error) {
	w := s.blobs.NewWriter(1)
	w.Add(data, nil)
	refs, err := w.Commit()
	if err != nil {
		return blobstore.Ref{}, err
	}
	return refs[0], nil
}

// HasChunk reports whether a chunk is stored here.
func (s *Store) HasChunk(id string) bool { return s.blobs.Has(id) }

// ReadChunk reads and verifies a chunk.
func (s *Store) ReadChunk(ref blobstore.Ref) ([]byte, error) {
	return s.blobs.Read(ref, nil)
}

// HoldChunks keeps chunks from collection until the returned release is called (while a
// coordinator ships them to replicas).
func (s *Store) HoldChunks(refs []blobstore.Ref) func() {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		s.gc.hold(r.ID)
		ids = append(ids, r.ID)
	}
	return func() { s.gc.release(ids); s.gc.maybeRemove(ids) }
}

// ScanRecords calls fn for every record of every bucket (anti-entropy's view of this replica).
func (s *Store) ScanRecords(ctx context.Context, fn func(RecordMsg) error) error {
	p := []byte{tagVersion}
	return s.scan(p, func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		rest := k[1:]
		i := 0
		for i < len(rest) && rest[i] != 0 {
			i++
		}
		bucket := string(rest[:i])
		key, ver, ok := splitVersionKey(k, 1+i+1)
		if !ok {
			return true, nil
		}
		return true, fn(RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: append([]byte(nil), v...)})
	})
}
