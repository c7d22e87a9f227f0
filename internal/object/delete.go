package object

import (
	"context"
	"fmt"
)

// DeleteObject deletes bucket/key: with versionID "" in a versioned bucket it adds a delete marker,
// otherwise it removes the named (or null) version. Deleting a missing key succeeds as in S3.
func (s *Store) DeleteObject(ctx context.Context, bucket, key, versionID string) (DeleteResult, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return DeleteResult{}, err
	}
	if err := checkKey(key); err != nil {
		return DeleteResult{}, err
	}
	if versionID != "" && versionID != NullVersion {
		if _, err := parseVersionID(versionID); err != nil {
			return DeleteResult{}, ErrInvalidArgument.With("Invalid version id specified")
		}
	}
	unlock := s.lockKey(bucket, key)
	defer unlock()
	recs, keys, err := s.keyVersions(bucket, key)
	if err != nil {
		return DeleteResult{}, err
	}
	c := commit{recs: recs, keys: keys}
	if versionID != "" {
		r, ok := findVersion(recs, versionID)
		if !ok {
			return DeleteResult{VersionID: versionID}, nil // S3: deleting a missing version succeeds
		}
		for i := range recs {
			if recs[i] == r {
				c.remove = append(c.remove, i)
			}
		}
		if err := s.apply(bucket, key, c); err != nil {
			return DeleteResult{}, err
		}
		return DeleteResult{VersionID: r.versionID(), DeleteMarker: r.Del}, nil
	}
	switch b.Versioning {
	case VersioningEnabled:
		c.add = &record{Del: true, version: s.newVersion()}
	case VersioningSuspended:
		c.add = &record{Del: true, Null: true, version: s.newVersion()}
		for i, r := range recs {
			if r.Null || r.Tomb {
				c.remove = append(c.remove, i)
			}
		}
	default:
		if len(recs) == 0 || recs[0].Tomb {
			return DeleteResult{}, nil
		}
		// Unversioned: the data goes now; a tombstone stays so that replicas which missed the
		// delete learn of it instead of resurrecting the object.
		c.add = &record{Del: true, Null: true, Tomb: true, version: s.newVersion()}
		for i := range recs {
			c.remove = append(c.remove, i)
		}
	}
	if err := s.apply(bucket, key, c); err != nil {
		return DeleteResult{}, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if c.add.Tomb {
		return DeleteResult{}, nil
	}
	return DeleteResult{VersionID: c.add.versionID(), DeleteMarker: true}, nil
}
