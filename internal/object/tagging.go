package object

import (
	"context"
	"maps"
)

// GetObjectTagging returns a version's tags (empty map when none) and its version id.
func (s *Store) GetObjectTagging(ctx context.Context, bucket, key, versionID string) (map[string]string, string, error) {
	rec, _, err := s.lookup(bucket, key, versionID)
	if err != nil {
		return nil, "", err
	}
	tags := maps.Clone(rec.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, rec.versionID(), nil
}

// PutObjectTagging replaces a version's tags (nil or empty removes them); returns the version id.
// Tags are metadata of the version: the version keeps its id and time.
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	if err := checkTags(tags); err != nil {
		return "", err
	}
	if _, _, err := s.lookup(bucket, key, versionID); err != nil {
		return "", err
	}
	unlock := s.lockKey(bucket, key)
	defer unlock()
	recs, keys, err := s.keyVersions(bucket, key)
	if err != nil {
		return "", err
	}
	r, ok := findVersion(recs, versionID)
	if !ok || r.Del || r.Tomb {
		if versionID == "" {
			return "", ErrNoSuchKey
		}
		return "", ErrNoSuchVersion
	}
	if len(tags) == 0 {
		tags = nil
	}
	r.Tags = tags
	for i := range recs {
		if recs[i] == r {
			val, err := r.encode()
			if err != nil {
				return "", err
			}
			b := s.db.NewBatch()
			defer b.Close()
			var ds []treeDelta
			if err := s.indexRemove(b, bucket, key, keys[i], &ds); err != nil {
				return "", err
			}
			b.Set(keys[i], val)
			indexAdd(b, RecordMsg{Bucket: bucket, Key: key, Version: r.version, Enc: val}, keys[i], &ds)
			if err := b.Commit(true); err != nil {
				return "", err
			}
			s.tree.apply(ds)
		}
	}
	return r.versionID(), nil
}
