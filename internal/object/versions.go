package object

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/crdt"
)

// keyVersions loads every version record of bucket/key, newest first, with their metastore keys.
func (s *Store) keyVersions(bucket, key string) ([]*record, [][]byte, error) {
	p := keyPrefix(bucket, key)
	plen := len(objPrefix(bucket))
	var recs []*record
	var keys [][]byte
	err := s.scan(p, func(k, v []byte) (bool, error) {
		_, ver, ok := splitVersionKey(k, plen)
		if !ok || len(k) != len(p)+16 {
			return true, nil // a longer key that merely shares this prefix cannot occur; skip defensively
		}
		r, err := decodeRecord(v, ver)
		if err != nil {
			return false, fmt.Errorf("version of %s/%s: %w", bucket, key, err)
		}
		recs = append(recs, r)
		keys = append(keys, append([]byte(nil), k...))
		return true, nil
	})
	return recs, keys, err
}

// findVersion picks the record a version id names ("" = latest visible state).
func findVersion(recs []*record, versionID string) (*record, bool) {
	if versionID == "" {
		if len(recs) == 0 {
			return nil, false
		}
		return recs[0], true
	}
	if versionID == NullVersion {
		for _, r := range recs {
			if r.Null && !r.Tomb {
				return r, true
			}
		}
		return nil, false
	}
	v, err := parseVersionID(versionID)
	if err != nil {
		return nil, false
	}
	for _, r := range recs {
		if r.version == v && !r.Null && !r.Tomb {
			return r, true
		}
	}
	return nil, false
}

// lookup returns the record for HEAD/GET semantics from the local store.
func (s *Store) lookup(bucket, key, versionID string) (*record, ObjectInfo, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	recs, _, err := s.keyVersions(bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return resolve(bucket, key, versionID, recs)
}

// resolve applies HEAD/GET semantics to a key's versions (newest first): ErrNoSuchKey when the
// latest state is a delete (with DeleteMarker info when it is a marker), ErrMethodNotAllowed for
// a named delete marker.
func resolve(bucket, key, versionID string, all []*record) (*record, ObjectInfo, error) {
	recs := all[:0:0]
	for _, r := range all {
		if !r.Purged {
			recs = append(recs, r)
		}
	}
	r, ok := findVersion(recs, versionID)
	if !ok {
		if versionID != "" {
			if _, perr := parseVersionID(versionID); perr != nil && versionID != NullVersion {
				return nil, ObjectInfo{}, ErrInvalidArgument.With("Invalid version id specified")
			}
			return nil, ObjectInfo{}, ErrNoSuchVersion
		}
		return nil, ObjectInfo{}, ErrNoSuchKey
	}
	info := r.info(bucket, key, r == recs[0])
	if r.Tomb {
		return nil, ObjectInfo{}, ErrNoSuchKey
	}
	if r.Del {
		if versionID == "" {
			return nil, info, ErrNoSuchKey
		}
		return nil, info, ErrMethodNotAllowed
	}
	return r, info, nil
}

func checkKey(key string) error {
	if len(key) == 0 {
		return ErrInvalidArgument.With("The object key must not be empty.")
	}
	if len(key) > MaxKeyLength {
		return ErrKeyTooLong
	}
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return ErrInvalidArgument.With("The object key must not contain a NUL character.")
		}
	}
	return nil
}

// commit is one change to a key's versions: the record to add (nil for none) and which existing
// records it supersedes. It runs under the key's lock.
type commit struct {
	add     *record
	remove  []int // indexes into the loaded records
	recs    []*record
	keys    [][]byte
	newRefs []string
}

// apply writes a commit durably and queues chunks that lost their last reference for collection.
func (s *Store) apply(bucket, key string, c commit) error {
	batch := s.db.NewBatch()
	defer batch.Close()
	// Deletes first: a record replaced by a newer state of the same version (tags, purge) has the
	// same key, and a later delete in the batch would remove the new record.
	var dropped []string
	var ds []treeDelta
	for _, i := range c.remove {
		batch.Delete(c.keys[i])
		if err := s.indexRemove(batch, bucket, key, c.keys[i], &ds); err != nil {
			return err
		}
		for _, ch := range c.recs[i].Chunks {
			batch.Delete(refKey(ch.ID, c.keys[i]))
			dropped = append(dropped, ch.ID)
		}
	}
	if c.add != nil {
		vk := versionKey(bucket, key, c.add.version)
		val, err := c.add.encode()
		if err != nil {
			return err
		}
		batch.Set(vk, val)
		indexAdd(batch, RecordMsg{Bucket: bucket, Key: key, Version: c.add.version, Enc: val}, vk, &ds)
		for _, ch := range c.add.Chunks {
			batch.Set(refKey(ch.ID, vk), nil)
		}
	}
	if err := batch.Commit(true); err != nil {
		return fmt.Errorf("write %s/%s: %w", bucket, key, err)
	}
	s.tree.apply(ds)
	s.gc.maybeRemove(dropped)
	return nil
}

func (s *Store) newVersion() crdt.Version {
	return crdt.Version{TS: s.hlc.Now(), Node: s.node}
}
