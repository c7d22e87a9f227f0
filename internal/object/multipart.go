package object

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
)

// Multipart uploads are state of their key, kept (and, in a site, replicated) with the key's
// versions on the replicas of its partition: an upload record and one record per part, each
// shipped as a RecordMsg of its kind and merged as a CRDT, so that any node can take an upload's
// parts, list them and complete or abort it, whichever node began it:
//   - the upload record is written once; Done (completed or aborted) wins, and stays as a
//     tombstone so that a replica that missed the end does not bring the upload back; merging
//     Done drops the upload's parts;
//   - a part record is last-writer-wins per part number (by version); a part of a Done upload is
//     dropped.
//
//	'u' bucket 0 key 0 uploadID              -> upload record
//	'q' bucket 0 key 0 uploadID 0 part(5)    -> part record

// Kinds of RecordMsg besides version records (0).
const (
	KindUpload = 'u'
	KindPart   = 'q'
)

type uploadRecord struct {
	Initiated time.Time         `json:"t"`
	Meta      Meta              `json:"m,omitempty"`
	Tags      map[string]string `json:"tg,omitempty"`
	V         crdt.Version      `json:"v"`
	Done      bool              `json:"d,omitempty"`
}

type partRecord struct {
	ETag     string          `json:"e"`
	Size     int64           `json:"s"`
	Modified time.Time       `json:"t"`
	Sum      Checksum        `json:"k,omitempty"`
	Chunks   []blobstore.Ref `json:"c,omitempty"`
	V        crdt.Version    `json:"v"`
}

// newUploadID returns an id that sorts by creation time, so uploads of a key list oldest first.
func (s *Store) newUploadID() string {
	var rnd [8]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%016x%s", uint64(s.hlc.Now()), hex.EncodeToString(rnd[:]))
}

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func partSub(uploadID string, n int) string { return fmt.Sprintf("%s/%05d", uploadID, n) }

func splitPartSub(sub string) (string, int, bool) {
	id, num, ok := strings.Cut(sub, "/")
	n, err := strconv.Atoi(num)
	return id, n, ok && err == nil && validUploadID(id) && n >= 1 && n <= MaxPartNumber
}

func (s *Store) uploadLock(bucket, uploadID string) func() {
	return s.lockKey(bucket, "\x00upload/"+uploadID)
}

// storageKey returns where a record message of any kind is kept.
func (m RecordMsg) storageKey() ([]byte, error) {
	switch m.Kind {
	case 0:
		return versionKey(m.Bucket, m.Key, m.Version), nil
	case KindUpload:
		if !validUploadID(m.Sub) {
			return nil, fmt.Errorf("bad upload id %q", m.Sub)
		}
		return uploadKey(m.Bucket, m.Key, m.Sub), nil
	case KindPart:
		id, n, ok := splitPartSub(m.Sub)
		if !ok {
			return nil, fmt.Errorf("bad part %q", m.Sub)
		}
		return partKey(m.Bucket, m.Key, id, n), nil
	}
	return nil, fmt.Errorf("unknown record kind %d", m.Kind)
}

// recordAtKind rebuilds the message of an upload or part record from its storage key.
func recordAtKind(sk, v []byte) (RecordMsg, error) {
	f := bytes.Split(sk[1:], []byte{0})
	m := RecordMsg{Kind: sk[0], Enc: v}
	switch {
	case sk[0] == KindUpload && len(f) == 3:
		var u uploadRecord
		if err := json.Unmarshal(v, &u); err != nil {
			return m, err
		}
		m.Bucket, m.Key, m.Sub, m.Version = string(f[0]), string(f[1]), string(f[2]), u.V
	case sk[0] == KindPart && len(f) == 4:
		var p partRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return m, err
		}
		n, _ := strconv.Atoi(string(f[3]))
		m.Bucket, m.Key, m.Sub, m.Version = string(f[0]), string(f[1]), partSub(string(f[2]), n), p.V
	default:
		return m, fmt.Errorf("index points at %q", sk)
	}
	return m, nil
}

func (s *Store) loadUploadRecord(bucket, key, uploadID string) (*uploadRecord, error) {
	v, err := s.db.Get(uploadKey(bucket, key, uploadID))
	if errors.Is(err, metastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var u uploadRecord
	if err := json.Unmarshal(v, &u); err != nil {
		return nil, fmt.Errorf("decode upload %s: %w", uploadID, err)
	}
	return &u, nil
}

// loadUpload returns a live upload of this replica, or ErrNoSuchUpload.
func (s *Store) loadUpload(bucket, key, uploadID string) (*uploadRecord, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, err
	}
	if !validUploadID(uploadID) {
		return nil, ErrNoSuchUpload
	}
	u, err := s.loadUploadRecord(bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Done {
		return nil, ErrNoSuchUpload
	}
	return u, nil
}

// mergeUpload merges an upload record; Done drops the upload's parts.
func (s *Store) mergeUpload(m RecordMsg) (bool, error) {
	var in uploadRecord
	if err := json.Unmarshal(m.Enc, &in); err != nil {
		return false, fmt.Errorf("decode upload record: %w", err)
	}
	if !validUploadID(m.Sub) {
		return false, fmt.Errorf("bad upload id %q", m.Sub)
	}
	s.hlc.Observe(in.V.TS)
	unlock := s.uploadLock(m.Bucket, m.Sub)
	defer unlock()
	old, err := s.loadUploadRecord(m.Bucket, m.Key, m.Sub)
	if err != nil {
		return false, err
	}
	if old != nil && (old.Done || !in.Done) {
		return false, nil // nothing newer: the record is written once, then only ended
	}
	b := s.db.NewBatch()
	defer b.Close()
	var ds []treeDelta
	var dropped []string
	uk := uploadKey(m.Bucket, m.Key, m.Sub)
	if old != nil {
		if err := s.indexRemove(b, m.Bucket, m.Key, uk, &ds); err != nil {
			return false, err
		}
	}
	if in.Done {
		if dropped, err = s.dropParts(b, m.Bucket, m.Key, m.Sub, &ds); err != nil {
			return false, err
		}
	}
	enc, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	b.Set(uk, enc)
	indexAdd(b, RecordMsg{Bucket: m.Bucket, Key: m.Key, Version: in.V, Enc: enc, Kind: KindUpload, Sub: m.Sub}, uk, &ds)
	if err := b.Commit(true); err != nil {
		return false, fmt.Errorf("write upload %s: %w", m.Sub, err)
	}
	s.tree.apply(ds)
	s.gc.maybeRemove(dropped)
	return true, nil
}

// dropParts deletes (in b) every part of an upload and returns the chunks they referenced.
func (s *Store) dropParts(b *metastore.Batch, bucket, key, uploadID string, ds *[]treeDelta) ([]string, error) {
	var dropped []string
	err := s.scan(partPrefix(bucket, key, uploadID), func(k, v []byte) (bool, error) {
		pk := append([]byte(nil), k...)
		var p partRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return false, fmt.Errorf("decode part %q: %w", pk, err)
		}
		b.Delete(pk)
		for _, c := range p.Chunks {
			b.Delete(refKey(c.ID, pk))
			dropped = append(dropped, c.ID)
		}
		return true, s.indexRemove(b, bucket, key, pk, ds)
	})
	return dropped, err
}

// mergePart merges a part record; errDoneUpload when its upload has ended here.
func (s *Store) mergePart(m RecordMsg) (bool, error) {
	var in partRecord
	if err := json.Unmarshal(m.Enc, &in); err != nil {
		return false, fmt.Errorf("decode part record: %w", err)
	}
	id, n, ok := splitPartSub(m.Sub)
	if !ok {
		return false, fmt.Errorf("bad part %q", m.Sub)
	}
	for _, c := range in.Chunks {
		if !s.blobs.Has(c.ID) {
			return false, fmt.Errorf("merge part %s of %s/%s: chunk %s: %w", m.Sub, m.Bucket, m.Key, c.ID, ErrMissingChunks)
		}
	}
	s.hlc.Observe(in.V.TS)
	unlock := s.uploadLock(m.Bucket, id)
	defer unlock()
	if u, err := s.loadUploadRecord(m.Bucket, m.Key, id); err != nil {
		return false, err
	} else if u != nil && u.Done {
		return false, errDoneUpload
	}
	pk := partKey(m.Bucket, m.Key, id, n)
	b := s.db.NewBatch()
	defer b.Close()
	var ds []treeDelta
	var dropped []string
	if v, err := s.db.Get(pk); err == nil {
		var old partRecord
		if json.Unmarshal(v, &old) == nil && !old.V.Less(in.V) {
			return false, nil // this part number already holds this or a later upload of it
		}
		for _, c := range old.Chunks {
			b.Delete(refKey(c.ID, pk))
			dropped = append(dropped, c.ID)
		}
		if err := s.indexRemove(b, m.Bucket, m.Key, pk, &ds); err != nil {
			return false, err
		}
	} else if !errors.Is(err, metastore.ErrNotFound) {
		return false, err
	}
	enc, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	b.Set(pk, enc)
	for _, c := range in.Chunks {
		b.Set(refKey(c.ID, pk), nil)
	}
	indexAdd(b, RecordMsg{Bucket: m.Bucket, Key: m.Key, Version: in.V, Enc: enc, Kind: KindPart, Sub: m.Sub}, pk, &ds)
	if err := b.Commit(true); err != nil {
		return false, fmt.Errorf("store part %d: %w", n, err)
	}
	s.tree.apply(ds)
	s.gc.maybeRemove(dropped)
	return true, nil
}

var errDoneUpload = errors.New("the upload has been completed or aborted")

// PrepareCreateUpload builds the record of a new upload of bucket/key and returns it with the
// upload's id; it is committed nowhere yet.
func (s *Store) PrepareCreateUpload(ctx context.Context, bucket, key string, opts PutOptions) (RecordMsg, string, error) {
	if _, err := s.bucket(bucket); err != nil {
		return RecordMsg{}, "", err
	}
	if err := checkKey(key); err != nil {
		return RecordMsg{}, "", err
	}
	if err := checkMeta(opts.Meta, opts.Tags); err != nil {
		return RecordMsg{}, "", err
	}
	id := s.newUploadID()
	u := uploadRecord{Initiated: s.hlc.Now().Physical().UTC(), Meta: opts.Meta, Tags: opts.Tags, V: s.newVersion()}
	enc, err := json.Marshal(u)
	if err != nil {
		return RecordMsg{}, "", err
	}
	return RecordMsg{Bucket: bucket, Key: key, Version: u.V, Enc: enc, Kind: KindUpload, Sub: id}, id, nil
}

// PrepareUploadPart stores part n's data here and builds its record (committed nowhere yet). It
// does not check that the upload exists: the caller does, on the replicas.
func (s *Store) PrepareUploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64, checksum func() Checksum) (*Prepared, PartInfo, error) {
	if n < 1 || n > MaxPartNumber {
		return nil, PartInfo{}, ErrInvalidArgument.With("Part number must be an integer between 1 and %d, inclusive", MaxPartNumber)
	}
	if _, err := s.bucket(bucket); err != nil {
		return nil, PartInfo{}, err
	}
	if !validUploadID(uploadID) {
		return nil, PartInfo{}, ErrNoSuchUpload
	}
	in, err := s.ingest(r, size, MaxPutSize, checksum, false)
	if err != nil {
		return nil, PartInfo{}, err
	}
	p := partRecord{ETag: hex.EncodeToString(in.md5), Size: in.size, Modified: s.hlc.Now().Physical().UTC(), Sum: in.sum, Chunks: in.chunks, V: s.newVersion()}
	enc, err := json.Marshal(p)
	if err != nil {
		s.abandon(in)
		return nil, PartInfo{}, err
	}
	msg := RecordMsg{Bucket: bucket, Key: key, Version: p.V, Enc: enc, Kind: KindPart, Sub: partSub(uploadID, n)}
	info := PartInfo{Number: n, ETag: p.ETag, Size: p.Size, LastModified: p.Modified, Checksum: p.Sum}
	return &Prepared{Msg: msg, Chunks: p.Chunks, release: func() { s.abandon(in) }}, info, nil
}

// UploadRecords returns this replica's records of an upload: the upload record and its parts.
func (s *Store) UploadRecords(bucket, key, uploadID string) ([]RecordMsg, error) {
	if !validUploadID(uploadID) {
		return nil, nil
	}
	var out []RecordMsg
	if v, err := s.db.Get(uploadKey(bucket, key, uploadID)); err == nil {
		m, err := recordAtKind(uploadKey(bucket, key, uploadID), v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	} else if !errors.Is(err, metastore.ErrNotFound) {
		return nil, err
	}
	err := s.scan(partPrefix(bucket, key, uploadID), func(k, v []byte) (bool, error) {
		m, err := recordAtKind(k, append([]byte(nil), v...))
		if err != nil {
			return false, err
		}
		out = append(out, m)
		return true, nil
	})
	return out, err
}

// UploadState is an upload as the records of one or more replicas describe it.
type UploadState struct {
	Bucket, Key, UploadID string
	found                 bool
	up                    uploadRecord
	parts                 map[int]partRecord
}

// MergeUpload folds what replicas hold of an upload into one state, by the rules replicas merge by.
func MergeUpload(bucket, key, uploadID string, msgs []RecordMsg) (*UploadState, error) {
	u := &UploadState{Bucket: bucket, Key: key, UploadID: uploadID, parts: map[int]partRecord{}}
	for _, m := range msgs {
		if m.Bucket != bucket || m.Key != key {
			continue
		}
		switch m.Kind {
		case KindUpload:
			if m.Sub != uploadID {
				continue
			}
			var in uploadRecord
			if err := json.Unmarshal(m.Enc, &in); err != nil {
				return nil, fmt.Errorf("decode upload record: %w", err)
			}
			done := u.up.Done || in.Done
			if !u.found {
				u.up = in
			}
			u.found, u.up.Done = true, done
		case KindPart:
			id, n, ok := splitPartSub(m.Sub)
			if !ok || id != uploadID {
				continue
			}
			var in partRecord
			if err := json.Unmarshal(m.Enc, &in); err != nil {
				return nil, fmt.Errorf("decode part record: %w", err)
			}
			if old, ok := u.parts[n]; !ok || old.V.Less(in.V) {
				u.parts[n] = in
			}
		}
	}
	if u.up.Done {
		clear(u.parts)
	}
	return u, nil
}

// Live reports whether the upload exists and has not ended.
func (u *UploadState) Live() bool { return u.found && !u.up.Done }

// Check returns ErrNoSuchUpload unless the upload is live.
func (u *UploadState) Check() error {
	if !u.Live() {
		return ErrNoSuchUpload
	}
	return nil
}

// DoneMsg is the record that ends the upload (complete or abort).
func (u *UploadState) DoneMsg() (RecordMsg, error) {
	d := u.up
	d.Done = true
	enc, err := json.Marshal(d)
	return RecordMsg{Bucket: u.Bucket, Key: u.Key, Version: d.V, Enc: enc, Kind: KindUpload, Sub: u.UploadID}, err
}

// PartChunks lists the chunks of every part.
func (u *UploadState) PartChunks() []blobstore.Ref {
	var out []blobstore.Ref
	for _, p := range u.parts {
		out = append(out, p.Chunks...)
	}
	return out
}

// ListParts lists the upload's parts after partNumberMarker.
func (u *UploadState) ListParts(partNumberMarker, maxParts int) (PartListResult, error) {
	if err := u.Check(); err != nil {
		return PartListResult{}, err
	}
	if maxParts <= 0 || maxParts > 1000 {
		maxParts = 1000
	}
	res := PartListResult{Upload: Upload{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID, Initiated: u.up.Initiated, Meta: u.up.Meta}}
	nums := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > partNumberMarker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		p := u.parts[n]
		res.Parts = append(res.Parts, PartInfo{Number: n, ETag: p.ETag, Size: p.Size, LastModified: p.Modified, Checksum: p.Sum})
		res.NextPartNumberMarker = n
	}
	return res, nil
}

// assemble checks the listed parts against the upload's and builds the object's record.
func (u *UploadState) assemble(parts []CompletePart) (*record, error) {
	if err := u.Check(); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, s3errMalformed("You must specify at least one part")
	}
	rec := &record{Meta: u.up.Meta, Tags: u.up.Tags}
	md5s := md5.New()
	var sums []Checksum
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return nil, ErrInvalidPartOrder
		}
	}
	for i, cp := range parts {
		p, ok := u.parts[cp.Number]
		if !ok || strings.Trim(strings.TrimSpace(cp.ETag), `"`) != p.ETag {
			return nil, ErrInvalidPart.With("One or more of the specified parts could not be found (part %d).", cp.Number)
		}
		if i < len(parts)-1 && p.Size < MinPartSize {
			return nil, ErrEntityTooSmall.With("Your proposed upload is smaller than the minimum allowed object size (part %d is %d bytes).", cp.Number, p.Size)
		}
		raw, _ := hex.DecodeString(p.ETag)
		md5s.Write(raw)
		rec.Size += p.Size
		rec.PartEnds = append(rec.PartEnds, rec.Size)
		rec.Chunks = append(rec.Chunks, p.Chunks...)
		sums = append(sums, p.Sum)
	}
	if rec.Size > MaxObjectSize {
		return nil, ErrEntityTooLarge
	}
	rec.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), len(parts))
	rec.Sum = compositeChecksum(sums)
	if len(rec.Chunks) == 0 {
		rec.inline, rec.InlineCRC = []byte{}, blobstore.CRC32C(nil)
	}
	return rec, nil
}

// PrepareComplete builds the object version that completes an upload (from its merged state) and
// the record that ends the upload; both are committed nowhere yet. The version's chunks are the
// parts' (on the key's replicas, not necessarily here).
func (s *Store) PrepareComplete(u *UploadState, parts []CompletePart) (*Prepared, RecordMsg, error) {
	b, err := s.bucket(u.Bucket)
	if err != nil {
		return nil, RecordMsg{}, err
	}
	rec, err := u.assemble(parts)
	if err != nil {
		return nil, RecordMsg{}, err
	}
	done, err := u.DoneMsg()
	if err != nil {
		return nil, RecordMsg{}, err
	}
	s.newRecordVersion(b, rec)
	p, err := s.prepared(u.Bucket, u.Key, rec, s.HoldChunks(rec.Chunks))
	if err != nil {
		return nil, RecordMsg{}, err
	}
	return p, done, nil
}

// localUpload is this replica's state of an upload.
func (s *Store) localUpload(bucket, key, uploadID string) (*UploadState, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, err
	}
	msgs, err := s.UploadRecords(bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	return MergeUpload(bucket, key, uploadID, msgs)
}

// The single-node API: the same records, committed here.

// CreateMultipartUpload starts an upload and returns its id.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	m, id, err := s.PrepareCreateUpload(ctx, bucket, key, opts)
	if err != nil {
		return "", err
	}
	if _, err := s.MergeRecord(m); err != nil {
		return "", fmt.Errorf("create upload: %w", err)
	}
	return id, nil
}

// UploadPart stores part number n (1..10000) of an upload, replacing an earlier part n.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64, checksum func() Checksum) (PartInfo, error) {
	if n < 1 || n > MaxPartNumber {
		return PartInfo{}, ErrInvalidArgument.With("Part number must be an integer between 1 and %d, inclusive", MaxPartNumber)
	}
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return PartInfo{}, err
	}
	p, info, err := s.PrepareUploadPart(ctx, bucket, key, uploadID, n, r, size, checksum)
	if err != nil {
		return PartInfo{}, err
	}
	defer p.Release()
	// The upload may have been completed or aborted while the data streamed in.
	if _, err := s.mergePart(p.Msg); errors.Is(err, errDoneUpload) {
		return PartInfo{}, ErrNoSuchUpload
	} else if err != nil {
		return PartInfo{}, err
	}
	return info, nil
}

// UploadPartCopy stores part n from a range of an existing version (length -1: all of it).
func (s *Store) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVersion string, offset, length int64, check func(ObjectInfo) error) (PartInfo, error) {
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return PartInfo{}, err
	}
	rec, info, err := s.lookup(srcBucket, srcKey, srcVersion)
	if err != nil {
		return PartInfo{}, err
	}
	if check != nil {
		if err := check(info); err != nil {
			return PartInfo{}, err
		}
	}
	if length >= 0 && (offset < 0 || offset+length > rec.Size) {
		return PartInfo{}, ErrInvalidRange.With("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if length < 0 {
		offset, length = 0, rec.Size
	}
	if length == 0 {
		return s.UploadPart(ctx, bucket, key, uploadID, n, bytes.NewReader(nil), 0, nil)
	}
	rd, err := s.openRecord(rec, offset, length)
	if err != nil {
		return PartInfo{}, err
	}
	defer rd.Close()
	return s.UploadPart(ctx, bucket, key, uploadID, n, rd, length, nil)
}

// CompleteMultipartUpload assembles the listed parts (ascending, each but the last at least
// MinPartSize) into the newest version of the key. The ETag is the MD5 of the parts' MD5s, "-N".
// No data is copied: the version lists the parts' chunks.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return ObjectInfo{}, err
	}
	u, err := s.localUpload(bucket, key, uploadID)
	if err != nil {
		return ObjectInfo{}, err
	}
	rec, err := u.assemble(parts)
	if err != nil {
		return ObjectInfo{}, err
	}
	done, err := u.DoneMsg()
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := s.putRecord(bucket, key, rec, putConds{})
	if err != nil {
		return ObjectInfo{}, err
	}
	// The object now references the chunks; end the upload, dropping its parts. A crash before
	// this leaves an upload that can still be aborted; its chunks stay referenced by the object.
	if _, err := s.mergeUpload(done); err != nil {
		s.log.Warn("complete: end the upload", "upload", uploadID, "err", err)
	}
	return info, nil
}

// AbortMultipartUpload discards an upload and its parts.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	u, err := s.localUpload(bucket, key, uploadID)
	if err != nil {
		return err
	}
	if err := u.Check(); err != nil {
		return err
	}
	done, err := u.DoneMsg()
	if err != nil {
		return err
	}
	_, err = s.mergeUpload(done)
	return err
}

// ListParts lists an upload's parts after partNumberMarker.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (PartListResult, error) {
	u, err := s.localUpload(bucket, key, uploadID)
	if err != nil {
		return PartListResult{}, err
	}
	return u.ListParts(partNumberMarker, maxParts)
}

// ListUploadRecords returns, in (key, upload id) order, the upload records (ended ones included:
// a coordinator merging several replicas' listings needs them) of up to limit uploads under
// prefix, after (afterKey, afterID) (afterID "": after every upload of afterKey); truncated tells
// whether more follow.
func (s *Store) ListUploadRecords(bucket, prefix, afterKey, afterID string, limit int) ([]RecordMsg, bool, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, false, err
	}
	base := uploadPrefix(bucket)
	lower := append(append([]byte(nil), base...), prefix...)
	it, err := s.db.NewIter(lower, prefixEnd(lower))
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	ok := it.First()
	if afterKey != "" {
		k := append(append([]byte(nil), base...), afterKey...)
		if afterID != "" {
			k = append(append(append(k, 0), afterID...), 0) // strictly after the marker upload
		} else {
			k = append(k, 1)
		}
		ok = it.SeekGE(k)
	}
	var out []RecordMsg
	for ; ok; ok = it.Next() {
		if len(out) == limit {
			return out, true, nil
		}
		v, err := it.Value()
		if err != nil {
			return nil, false, err
		}
		m, err := recordAtKind(it.Key(), append([]byte(nil), v...))
		if err != nil {
			return nil, false, err
		}
		out = append(out, m)
	}
	return out, false, nil
}

// UploadInfo describes an upload record message for a listing; ok is false for an ended upload.
func (m RecordMsg) UploadInfo() (Upload, bool) {
	var u uploadRecord
	if m.Kind != KindUpload || json.Unmarshal(m.Enc, &u) != nil || u.Done {
		return Upload{}, false
	}
	return Upload{Bucket: m.Bucket, Key: m.Key, UploadID: m.Sub, Initiated: u.Initiated, Meta: u.Meta}, true
}

// UploadEnded reports whether an upload record message says the upload is over.
func (m RecordMsg) UploadEnded() bool {
	var u uploadRecord
	return m.Kind == KindUpload && json.Unmarshal(m.Enc, &u) == nil && u.Done
}

// ListMultipartUploads lists a bucket's in-progress uploads, by key then initiation time.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts UploadListOptions) (UploadListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return UploadListResult{}, err
	}
	afterKey, afterID := "", ""
	if opts.KeyMarker != "" {
		afterKey, afterID = opts.KeyMarker, opts.UploadIDMarker
	}
	page := func(afterKey, afterID string) ([]RecordMsg, bool, error) {
		return s.ListUploadRecords(bucket, opts.Prefix, afterKey, afterID, 1000)
	}
	return PageUploads(opts, afterKey, afterID, page)
}

// PageUploads applies ListMultipartUploads' prefix, delimiter and paging to a stream of upload
// records in (key, upload id) order, read in pages from next (after a key and upload id).
func PageUploads(opts UploadListOptions, afterKey, afterID string, next func(afterKey, afterID string) ([]RecordMsg, bool, error)) (UploadListResult, error) {
	limit := maxKeys(opts.MaxUploads)
	var res UploadListResult
	count := 0
	for {
		msgs, more, err := next(afterKey, afterID)
		if err != nil {
			return UploadListResult{}, err
		}
		for _, m := range msgs {
			afterKey, afterID = m.Key, m.Sub
			up, live := m.UploadInfo()
			if !live {
				continue
			}
			if opts.Delimiter != "" {
				if j := strings.Index(m.Key[len(opts.Prefix):], opts.Delimiter); j >= 0 {
					cp := m.Key[:len(opts.Prefix)+j+len(opts.Delimiter)]
					if len(res.CommonPrefixes) > 0 && res.CommonPrefixes[len(res.CommonPrefixes)-1] == cp {
						continue
					}
					if opts.KeyMarker != "" && cp <= opts.KeyMarker {
						continue
					}
					if count == limit {
						res.IsTruncated = true
						return res, nil
					}
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
					count++
					continue
				}
			}
			if count == limit {
				res.IsTruncated = true
				return res, nil
			}
			res.Uploads = append(res.Uploads, up)
			res.NextKeyMarker, res.NextUploadIDMarker = m.Key, m.Sub
			count++
		}
		if !more {
			res.NextKeyMarker, res.NextUploadIDMarker = "", ""
			return res, nil
		}
	}
}
