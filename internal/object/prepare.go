package object

import (
	"context"
	"encoding/hex"
	"io"
	"sort"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
)

// This file is the coordinator side of the object layer: it builds new version records (storing
// their data here first) without committing them, so that the replication layer can commit them
// on the replicas of the key, and it resolves what replicas answered into S3 semantics.

// Prepared is a new version built by a coordinator: its data is stored (and held against
// collection) on this node, and it is committed nowhere yet.
type Prepared struct {
	Msg     RecordMsg
	Info    ObjectInfo
	Chunks  []blobstore.Ref
	release func()
}

// Release lets the prepared data be collected unless a committed record references it.
func (p *Prepared) Release() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

func (s *Store) prepared(bucket, key string, rec *record, release func()) (*Prepared, error) {
	m, err := s.msg(bucket, key, rec)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	return &Prepared{Msg: m, Info: rec.info(bucket, key, true), Chunks: rec.Chunks, release: release}, nil
}

// newRecordVersion stamps rec as the newest write of a key under the bucket's versioning.
func (s *Store) newRecordVersion(b Bucket, rec *record) {
	rec.version = s.newVersion()
	rec.Null = rec.Null || b.Versioning != VersioningEnabled
}

// PreparePut stores r here and builds its version record.
func (s *Store) PreparePut(ctx context.Context, bucket, key string, r io.Reader, size int64, opts PutOptions) (*Prepared, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkMeta(opts.Meta, opts.Tags); err != nil {
		return nil, err
	}
	in, err := s.ingest(r, size, MaxPutSize, opts.Checksum, true)
	if err != nil {
		return nil, err
	}
	rec := &record{
		Size: in.size, ETag: hex.EncodeToString(in.md5), Meta: opts.Meta, Sum: in.sum,
		Tags: opts.Tags, Chunks: in.chunks, inline: in.inline,
	}
	if in.inline != nil {
		rec.InlineCRC = blobstore.CRC32C(in.inline)
	}
	s.newRecordVersion(b, rec)
	return s.prepared(bucket, key, rec, func() { s.abandon(in) })
}

// PrepareDelete builds the record a DELETE writes: a delete marker (versioned), a null delete
// marker (suspended), a tombstone (unversioned), or the purge of a named version.
func (s *Store) PrepareDelete(bucket, key, versionID string, current []RecordMsg) (*Prepared, DeleteResult, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, DeleteResult{}, err
	}
	if err := checkKey(key); err != nil {
		return nil, DeleteResult{}, err
	}
	recs, err := mergeMsgs(current)
	if err != nil {
		return nil, DeleteResult{}, err
	}
	if versionID != "" {
		if versionID != NullVersion {
			if _, err := parseVersionID(versionID); err != nil {
				return nil, DeleteResult{}, ErrInvalidArgument.With("Invalid version id specified")
			}
		}
		live := recs[:0:0]
		for _, r := range recs {
			if !r.Purged {
				live = append(live, r)
			}
		}
		r, ok := findVersion(live, versionID)
		if !ok {
			return nil, DeleteResult{VersionID: versionID}, nil
		}
		p := &record{version: r.version, Null: r.Null, Purged: true}
		pr, err := s.prepared(bucket, key, p, nil)
		return pr, DeleteResult{VersionID: r.versionID(), DeleteMarker: r.Del}, err
	}
	rec := &record{Del: true}
	switch b.Versioning {
	case VersioningEnabled:
	case VersioningSuspended:
		rec.Null = true
	default:
		// Always a tombstone, even when current shows nothing to delete: what a quorum of replicas
		// answered cannot prove the key absent (a write acknowledged through sloppy quorum, or one
		// that failed and is still retried, may be elsewhere), and only a newer tombstone keeps it
		// from appearing after this acknowledged delete (found by internal/testcluster: TestSim
		// seeds 2 and 16, TestDeleteWinsOverEarlierFailedWrite).
		rec.Null, rec.Tomb = true, true
	}
	s.newRecordVersion(b, rec)
	pr, err := s.prepared(bucket, key, rec, nil)
	if err != nil || rec.Tomb {
		return pr, DeleteResult{}, err
	}
	return pr, DeleteResult{VersionID: rec.versionID(), DeleteMarker: true}, nil
}

// PrepareCopy builds a new version of dst from a source record, sharing its data.
func (s *Store) PrepareCopy(src RecordMsg, dstBucket, dstKey string, opts CopyOptions) (*Prepared, error) {
	b, err := s.bucket(dstBucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(dstKey); err != nil {
		return nil, err
	}
	in, err := decodeRecord(src.Enc, src.Version)
	if err != nil {
		return nil, err
	}
	rec := &record{
		Size: in.Size, ETag: in.ETag, Meta: in.Meta, Sum: in.Sum, Tags: in.Tags,
		PartEnds: in.PartEnds, Chunks: in.Chunks, InlineCRC: in.InlineCRC, inline: in.inline,
	}
	if opts.ReplaceMeta {
		rec.Meta = opts.Meta
	}
	if opts.ReplaceTags {
		rec.Tags = opts.Tags
	}
	if err := checkMeta(rec.Meta, rec.Tags); err != nil {
		return nil, err
	}
	s.newRecordVersion(b, rec)
	return s.prepared(dstBucket, dstKey, rec, nil)
}

// PrepareTagging builds the same version with new tags, ordered by a fresh metadata timestamp.
func (s *Store) PrepareTagging(target RecordMsg, tags map[string]string) (*Prepared, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	r, err := decodeRecord(target.Enc, target.Version)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		tags = nil
	}
	r.Tags = tags
	r.MetaTS = s.hlc.Now()
	return s.prepared(target.Bucket, target.Key, r, nil)
}

// mergeMsgs folds records from several replicas into one key state, newest first, by the same
// rules as MergeRecord.
func mergeMsgs(msgs []RecordMsg) ([]*record, error) {
	var out []*record
	for _, m := range msgs {
		in, err := decodeRecord(m.Enc, m.Version)
		if err != nil {
			return nil, err
		}
		out = mergeInto(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[j].version.Less(out[i].version) })
	return out, nil
}

func mergeInto(recs []*record, in *record) []*record {
	keep := recs[:0]
	drop := false
	for _, old := range recs {
		switch {
		case old.version == in.version:
			if in.Purged && !old.Purged || in.MetaTS > old.MetaTS {
				continue
			}
			drop = true
		case in.slotNull() && old.slotNull():
			if old.version.Less(in.version) {
				continue
			}
			drop = true
		case clearsNull(in, old):
			continue
		case clearsNull(old, in):
			drop = true
		}
		keep = append(keep, old)
	}
	if !drop {
		keep = append(keep, in)
	}
	return keep
}

// MergeVersions folds the records replicas hold of one key into the key's state, newest first
// (the records every replica should hold): one per surviving version. Read repair pushes these,
// never records the merge discards.
func MergeVersions(msgs []RecordMsg) ([]RecordMsg, error) {
	recs, err := mergeMsgs(msgs)
	if err != nil {
		return nil, err
	}
	out := make([]RecordMsg, 0, len(recs))
	for _, r := range recs {
		for i := range msgs {
			if msgs[i].Version != r.version {
				continue
			}
			if m, err := decodeHeader(msgs[i].Enc, msgs[i].Version); err == nil && m.MetaTS == r.MetaTS && m.Purged == r.Purged {
				out = append(out, msgs[i])
				break
			}
		}
	}
	return out, nil
}

// Resolve merges what replicas hold for a key and applies GET/HEAD semantics to it. The returned
// message is the chosen version's record (nil with an error).
func Resolve(bucket, key, versionID string, msgs []RecordMsg) (*RecordMsg, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	recs, err := mergeMsgs(msgs)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	r, info, err := resolve(bucket, key, versionID, recs)
	if err != nil {
		return nil, info, err
	}
	for i := range msgs {
		if msgs[i].Version == r.version {
			m, _ := decodeRecord(msgs[i].Enc, msgs[i].Version)
			if m != nil && m.MetaTS == r.MetaTS && !m.Purged {
				return &msgs[i], info, nil
			}
		}
	}
	return nil, info, ErrNoSuchKey
}

// Newest returns, for each version in msgs, the winning record after merging: what every replica
// should hold. Used for read repair.
func Newest(msgs []RecordMsg) ([]crdt.Version, error) {
	recs, err := mergeMsgs(msgs)
	if err != nil {
		return nil, err
	}
	out := make([]crdt.Version, len(recs))
	for i, r := range recs {
		out[i] = r.version
	}
	return out, nil
}

// OpenMsg streams a range of a record's data; chunks missing here come from fetch.
func (s *Store) OpenMsg(m RecordMsg, offset, length int64, fetch func(blobstore.Ref) ([]byte, error)) (Reader, error) {
	rec, err := decodeRecord(m.Enc, m.Version)
	if err != nil {
		return nil, err
	}
	return s.openRecordFetch(rec, offset, length, fetch)
}

// MsgParts returns the part boundaries of a record (for ?partNumber), one part for a single PUT.
func MsgParts(m RecordMsg) ([]int64, error) {
	rec, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return nil, err
	}
	if len(rec.PartEnds) == 0 {
		return []int64{rec.Size}, nil
	}
	return rec.PartEnds, nil
}

// Info describes a record message as S3 sees it.
func (m RecordMsg) Info(latest bool) (ObjectInfo, error) {
	rec, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return ObjectInfo{}, err
	}
	return rec.info(m.Bucket, m.Key, latest), nil
}

// ListInfo is Info(true) and Hidden with one decoding, for listings.
func (m RecordMsg) ListInfo() (info ObjectInfo, hidden bool, err error) {
	rec, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return ObjectInfo{}, false, err
	}
	return rec.info(m.Bucket, m.Key, true), rec.hidden(), nil
}

// Hidden reports whether the record is invisible to listings (tombstone or purge).
func (m RecordMsg) Hidden() bool {
	rec, err := decodeHeader(m.Enc, m.Version)
	return err != nil || rec.hidden()
}

// Tags returns a record's tags and version id.
func (m RecordMsg) Tags() (map[string]string, string, error) {
	rec, err := decodeHeader(m.Enc, m.Version)
	if err != nil {
		return nil, "", err
	}
	tags := map[string]string{}
	for k, v := range rec.Tags {
		tags[k] = v
	}
	return tags, rec.versionID(), nil
}
