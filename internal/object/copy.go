package object

import (
	"context"
	"maps"
)

// CopyObject copies a version to dst without copying its stored data: the new version references
// the same chunks (or carries the same inline bytes).
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, srcVersion, dstBucket, dstKey string, opts CopyOptions) (ObjectInfo, error) {
	if _, err := s.bucket(dstBucket); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(dstKey); err != nil {
		return ObjectInfo{}, err
	}
	src, info, err := s.lookup(srcBucket, srcKey, srcVersion)
	if err != nil {
		return ObjectInfo{}, err
	}
	if opts.Check != nil {
		if err := opts.Check(info); err != nil {
			return ObjectInfo{}, err
		}
	}
	rec := &record{
		Size: src.Size, ETag: src.ETag, Meta: src.Meta, Sum: src.Sum, Tags: maps.Clone(src.Tags),
		PartEnds: src.PartEnds, Chunks: src.Chunks, InlineCRC: src.InlineCRC, inline: src.inline,
	}
	if opts.ReplaceMeta {
		rec.Meta = opts.Meta
	}
	if opts.ReplaceTags {
		rec.Tags = opts.Tags
	}
	if err := checkMeta(rec.Meta, rec.Tags); err != nil {
		return ObjectInfo{}, err
	}
	// The source's chunks must not be collected between lookup and commit.
	held := make([]string, 0, len(rec.Chunks))
	for _, c := range rec.Chunks {
		s.gc.hold(c.ID)
		held = append(held, c.ID)
	}
	defer s.gc.release(held)
	if !s.chunksPresent(rec) {
		return ObjectInfo{}, ErrCorrupt
	}
	return s.putRecord(dstBucket, dstKey, rec, putConds{})
}

// chunksPresent checks that every chunk of rec still exists (a concurrent overwrite of the source
// could have released them just before they were held).
func (s *Store) chunksPresent(rec *record) bool {
	for _, c := range rec.Chunks {
		if !s.blobs.Has(c.ID) {
			return false
		}
	}
	return true
}
