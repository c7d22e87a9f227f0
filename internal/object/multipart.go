package object

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/metastore"
)

type uploadRecord struct {
	Initiated time.Time         `json:"t"`
	Meta      Meta              `json:"m,omitempty"`
	Tags      map[string]string `json:"tg,omitempty"`
}

type partRecord struct {
	ETag     string          `json:"e"`
	Size     int64           `json:"s"`
	Modified time.Time       `json:"t"`
	Sum      Checksum        `json:"k,omitempty"`
	Chunks   []blobstore.Ref `json:"c,omitempty"`
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

func (s *Store) loadUpload(bucket, key, uploadID string) (*uploadRecord, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, err
	}
	if !validUploadID(uploadID) {
		return nil, ErrNoSuchUpload
	}
	v, err := s.db.Get(uploadKey(bucket, key, uploadID))
	if err == metastore.ErrNotFound {
		return nil, ErrNoSuchUpload
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

// CreateMultipartUpload starts an upload and returns its id.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	if _, err := s.bucket(bucket); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkMeta(opts.Meta, opts.Tags); err != nil {
		return "", err
	}
	id := s.newUploadID()
	v, err := json.Marshal(uploadRecord{Initiated: s.hlc.Now().Physical().UTC(), Meta: opts.Meta, Tags: opts.Tags})
	if err != nil {
		return "", err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(uploadKey(bucket, key, id), v)
	if err := b.Commit(true); err != nil {
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
	in, err := s.ingest(r, size, MaxPutSize, checksum, false)
	if err != nil {
		return PartInfo{}, err
	}
	p := partRecord{ETag: hex.EncodeToString(in.md5), Size: in.size, Modified: s.hlc.Now().Physical().UTC(), Sum: in.sum, Chunks: in.chunks}
	if err := s.storePart(bucket, key, uploadID, n, p); err != nil {
		s.abandon(in)
		return PartInfo{}, err
	}
	s.done(in)
	return PartInfo{Number: n, ETag: p.ETag, Size: p.Size, LastModified: p.Modified, Checksum: p.Sum}, nil
}

// storePart records a part and its chunk references, dropping the part it replaces.
func (s *Store) storePart(bucket, key, uploadID string, n int, p partRecord) error {
	unlock := s.lockKey(bucket, "\x00upload/"+uploadID)
	defer unlock()
	// The upload may have been completed or aborted while the data streamed in.
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return err
	}
	pk := partKey(uploadID, n)
	b := s.db.NewBatch()
	defer b.Close()
	var dropped []string
	if old, err := s.db.Get(pk); err == nil {
		var op partRecord
		if json.Unmarshal(old, &op) == nil {
			for _, c := range op.Chunks {
				b.Delete(refKey(c.ID, pk))
				dropped = append(dropped, c.ID)
			}
		}
	}
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	b.Set(pk, v)
	for _, c := range p.Chunks {
		b.Set(refKey(c.ID, pk), nil)
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("store part %d: %w", n, err)
	}
	s.gc.maybeRemove(dropped)
	return nil
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

func (s *Store) loadParts(uploadID string) (map[int]partRecord, error) {
	parts := map[int]partRecord{}
	err := s.scan(partPrefix(uploadID), func(k, v []byte) (bool, error) {
		n, err := strconv.Atoi(string(k[len(partPrefix(uploadID)):]))
		if err != nil {
			return false, fmt.Errorf("bad part key %q", k)
		}
		var p partRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return false, fmt.Errorf("decode part %d: %w", n, err)
		}
		parts[n] = p
		return true, nil
	})
	return parts, err
}

// CompleteMultipartUpload assembles the listed parts (ascending, each but the last at least
// MinPartSize) into the newest version of the key. The ETag is the MD5 of the parts' MD5s, "-N".
// No data is copied: the version lists the parts' chunks.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	unlock := s.lockKey(bucket, "\x00upload/"+uploadID)
	defer unlock()
	rec, stored, err := s.assemble(bucket, key, uploadID, parts)
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := s.putRecord(bucket, key, rec, putConds{})
	if err != nil {
		return ObjectInfo{}, err
	}
	// The object now references the chunks; drop the upload and its parts. A crash before this
	// batch leaves an upload that can still be aborted; its chunks stay referenced by the object.
	if err := s.dropUpload(bucket, key, uploadID, stored); err != nil {
		s.log.Warn("complete: drop upload state", "upload", uploadID, "err", err)
	}
	return info, nil
}

// PrepareComplete assembles an upload into a version record for the replication layer; finish
// drops the upload's state once the record is committed on the replicas.
func (s *Store) PrepareComplete(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (*Prepared, func(), error) {
	unlock := s.lockKey(bucket, "\x00upload/"+uploadID)
	defer unlock()
	rec, stored, err := s.assemble(bucket, key, uploadID, parts)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, nil, err
	}
	s.newRecordVersion(b, rec)
	p, err := s.prepared(bucket, key, rec, s.HoldChunks(rec.Chunks))
	if err != nil {
		return nil, nil, err
	}
	finish := func() {
		if err := s.dropUpload(bucket, key, uploadID, stored); err != nil {
			s.log.Warn("complete: drop upload state", "upload", uploadID, "err", err)
		}
	}
	return p, finish, nil
}

// assemble checks the listed parts against the stored ones and builds the object's record.
// The caller holds the upload's lock.
func (s *Store) assemble(bucket, key, uploadID string, parts []CompletePart) (*record, map[int]partRecord, error) {
	up, err := s.loadUpload(bucket, key, uploadID)
	if err != nil {
		return nil, nil, err
	}
	if len(parts) == 0 {
		return nil, nil, s3errMalformed("You must specify at least one part")
	}
	stored, err := s.loadParts(uploadID)
	if err != nil {
		return nil, nil, err
	}
	rec := &record{Meta: up.Meta, Tags: up.Tags}
	md5s := md5.New()
	var sums []Checksum
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return nil, nil, ErrInvalidPartOrder
		}
	}
	for i, cp := range parts {
		p, ok := stored[cp.Number]
		if !ok || strings.Trim(strings.TrimSpace(cp.ETag), `"`) != p.ETag {
			return nil, nil, ErrInvalidPart.With("One or more of the specified parts could not be found (part %d).", cp.Number)
		}
		if i < len(parts)-1 && p.Size < MinPartSize {
			return nil, nil, ErrEntityTooSmall.With("Your proposed upload is smaller than the minimum allowed object size (part %d is %d bytes).", cp.Number, p.Size)
		}
		raw, _ := hex.DecodeString(p.ETag)
		md5s.Write(raw)
		rec.Size += p.Size
		rec.PartEnds = append(rec.PartEnds, rec.Size)
		rec.Chunks = append(rec.Chunks, p.Chunks...)
		sums = append(sums, p.Sum)
	}
	if rec.Size > MaxObjectSize {
		return nil, nil, ErrEntityTooLarge
	}
	rec.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), len(parts))
	rec.Sum = compositeChecksum(sums)
	if len(rec.Chunks) == 0 {
		rec.inline, rec.InlineCRC = []byte{}, blobstore.CRC32C(nil)
	}
	return rec, stored, nil
}

// AbortMultipartUpload discards an upload and its parts.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return err
	}
	unlock := s.lockKey(bucket, "\x00upload/"+uploadID)
	defer unlock()
	stored, err := s.loadParts(uploadID)
	if err != nil {
		return err
	}
	return s.dropUpload(bucket, key, uploadID, stored)
}

func (s *Store) dropUpload(bucket, key, uploadID string, parts map[int]partRecord) error {
	b := s.db.NewBatch()
	defer b.Close()
	var dropped []string
	for n, p := range parts {
		pk := partKey(uploadID, n)
		b.Delete(pk)
		for _, c := range p.Chunks {
			b.Delete(refKey(c.ID, pk))
			dropped = append(dropped, c.ID)
		}
	}
	b.Delete(uploadKey(bucket, key, uploadID))
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("drop upload %s: %w", uploadID, err)
	}
	s.gc.maybeRemove(dropped)
	return nil
}

// ListParts lists an upload's parts after partNumberMarker.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (PartListResult, error) {
	up, err := s.loadUpload(bucket, key, uploadID)
	if err != nil {
		return PartListResult{}, err
	}
	if maxParts <= 0 || maxParts > 1000 {
		maxParts = 1000
	}
	res := PartListResult{Upload: Upload{Bucket: bucket, Key: key, UploadID: uploadID, Initiated: up.Initiated, Meta: up.Meta}}
	start := append(partPrefix(uploadID), fmt.Sprintf("%05d", partNumberMarker+1)...)
	it, err := s.db.NewIter(start, prefixEnd(partPrefix(uploadID)))
	if err != nil {
		return PartListResult{}, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		n, _ := strconv.Atoi(string(it.Key()[len(partPrefix(uploadID)):]))
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		v, err := it.Value()
		if err != nil {
			return PartListResult{}, err
		}
		var p partRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return PartListResult{}, err
		}
		res.Parts = append(res.Parts, PartInfo{Number: n, ETag: p.ETag, Size: p.Size, LastModified: p.Modified, Checksum: p.Sum})
		res.NextPartNumberMarker = n
	}
	return res, nil
}

// ListMultipartUploads lists a bucket's in-progress uploads, by key then initiation time.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts UploadListOptions) (UploadListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return UploadListResult{}, err
	}
	limit := maxKeys(opts.MaxUploads)
	base := uploadPrefix(bucket)
	lower := append(append([]byte(nil), base...), opts.Prefix...)
	it, err := s.db.NewIter(lower, prefixEnd(lower))
	if err != nil {
		return UploadListResult{}, err
	}
	defer it.Close()
	ok := it.First()
	if opts.KeyMarker != "" {
		k := append(append([]byte(nil), base...), opts.KeyMarker...)
		if opts.UploadIDMarker != "" {
			k = append(append(k, 0), opts.UploadIDMarker...)
			k = append(k, 0) // strictly after the marker upload
		} else {
			k = append(k, 1)
		}
		ok = it.SeekGE(k)
	}
	var res UploadListResult
	count := 0
	for ; ok; ok = it.Next() {
		rest := it.Key()[len(base):]
		i := bytes.LastIndexByte(rest, 0)
		if i < 0 {
			continue
		}
		key, id := string(rest[:i]), string(rest[i+1:])
		if opts.Delimiter != "" {
			if j := strings.Index(key[len(opts.Prefix):], opts.Delimiter); j >= 0 {
				cp := key[:len(opts.Prefix)+j+len(opts.Delimiter)]
				if len(res.CommonPrefixes) > 0 && res.CommonPrefixes[len(res.CommonPrefixes)-1] == cp {
					continue
				}
				if opts.KeyMarker != "" && cp <= opts.KeyMarker {
					continue
				}
				if count == limit {
					res.IsTruncated = true
					break
				}
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
				count++
				continue
			}
		}
		if count == limit {
			res.IsTruncated = true
			break
		}
		v, err := it.Value()
		if err != nil {
			return UploadListResult{}, err
		}
		var u uploadRecord
		if err := json.Unmarshal(v, &u); err != nil {
			return UploadListResult{}, err
		}
		res.Uploads = append(res.Uploads, Upload{Bucket: bucket, Key: key, UploadID: id, Initiated: u.Initiated, Meta: u.Meta})
		res.NextKeyMarker, res.NextUploadIDMarker = key, id
		count++
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	return res, nil
}
