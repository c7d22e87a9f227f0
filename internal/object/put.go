package object

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/minicloud/minicloud/internal/blobstore"
)

// ingested is data read from a client and stored, not yet referenced by any record.
type ingested struct {
	size   int64
	md5    []byte
	inline []byte
	chunks []blobstore.Ref
	sum    Checksum
	held   []string // chunk ids held against collection until the record commits
}

// ingest reads r to EOF (so that trailing checksums are verified), storing it inline when small
// and as chunks otherwise. maxSize bounds what a client may send.
func (s *Store) ingest(r io.Reader, size, maxSize int64, sum func() Checksum, allowInline bool) (*ingested, error) {
	if size > maxSize {
		return nil, ErrEntityTooLarge
	}
	h := md5.New()
	out := &ingested{}
	first := InlineLimit + 1
	if size >= 0 && size <= InlineLimit {
		first = int(size) + 1 // one more byte than announced shows a body that is too long
	}
	buf := make([]byte, first)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil: // more than fits inline (or than announced)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if !allowInline && n > 0 {
			return s.ingestChunks(bytesReader(buf[:n]), size, maxSize, sum, h, out)
		}
		h.Write(buf[:n])
		out.size, out.inline, out.md5 = int64(n), buf[:n], h.Sum(nil)
		return out, s.finishIngest(out, size, sum)
	default:
		return nil, fmt.Errorf("read body: %w", err)
	}
	if size >= 0 && size <= InlineLimit {
		return nil, ErrIncompleteBody.With("The request body is longer than its Content-Length.")
	}
	return s.ingestChunks(io.MultiReader(bytesReader(buf[:n]), r), size, maxSize, sum, h, out)
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (s *Store) ingestChunks(r io.Reader, size, maxSize int64, sum func() Checksum, h hash.Hash, out *ingested) (*ingested, error) {
	w := s.blobs.NewWriter(4)
	var total int64
	var readErr error
	for {
		bp := s.chunkBufs.Get().(*[]byte)
		n, err := io.ReadFull(r, *bp)
		if n > 0 {
			total += int64(n)
			if total > maxSize {
				s.chunkBufs.Put(bp)
				readErr = ErrEntityTooLarge
				break
			}
			h.Write((*bp)[:n])
			w.Add((*bp)[:n], func() { s.chunkBufs.Put(bp) })
		} else {
			s.chunkBufs.Put(bp)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read body: %w", err)
			break
		}
	}
	// Hold every chunk before it can be seen as unreferenced; Refs waits for the writes.
	refs, werr := w.Commit()
	if werr != nil && readErr == nil {
		readErr = werr
	}
	if refs != nil {
		for _, ref := range refs {
			if ref.ID != "" {
				s.gc.hold(ref.ID)
				out.held = append(out.held, ref.ID)
			}
		}
	}
	if readErr != nil {
		s.abandon(out)
		return nil, readErr
	}
	out.size, out.chunks, out.md5 = total, refs, h.Sum(nil)
	if err := s.finishIngest(out, size, sum); err != nil {
		s.abandon(out)
		return nil, err
	}
	return out, nil
}

func (s *Store) finishIngest(out *ingested, size int64, sum func() Checksum) error {
	if size >= 0 && out.size != size {
		return ErrIncompleteBody
	}
	if sum != nil {
		out.sum = sum()
	}
	return nil
}

// abandon releases the chunks of an ingest that will not be committed and queues them for
// collection (another version may share them; the collector checks).
func (s *Store) abandon(in *ingested) {
	if in == nil {
		return
	}
	s.gc.release(in.held)
	s.gc.maybeRemove(in.held)
	in.held = nil
}

// done releases the hold after the referencing record committed.
func (s *Store) done(in *ingested) {
	s.gc.release(in.held)
	in.held = nil
}

// PutObject stores r (size bytes, or -1 if unknown) as the newest version of bucket/key. The
// version is acknowledged only once data and metadata are on stable storage. An error from r
// aborts the PUT and leaves nothing behind.
func (s *Store) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if _, err := s.bucket(bucket); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkMeta(opts.Meta, opts.Tags); err != nil {
		return ObjectInfo{}, err
	}
	in, err := s.ingest(r, size, MaxPutSize, opts.Checksum, true)
	if err != nil {
		return ObjectInfo{}, err
	}
	rec := &record{
		Size: in.size, ETag: hex.EncodeToString(in.md5), Meta: opts.Meta, Sum: in.sum,
		Tags: opts.Tags, Chunks: in.chunks, inline: in.inline,
	}
	if in.inline != nil {
		rec.InlineCRC = blobstore.CRC32C(in.inline)
	}
	info, err := s.putRecord(bucket, key, rec, putConds{ifNoneMatchStar: opts.IfNoneMatchStar, ifMatch: opts.IfMatch})
	if err != nil {
		s.abandon(in)
		return ObjectInfo{}, err
	}
	s.done(in)
	return info, nil
}

type putConds struct {
	ifNoneMatchStar bool
	ifMatch         string
}

// putRecord makes rec the newest version of bucket/key under the bucket's versioning rules.
func (s *Store) putRecord(bucket, key string, rec *record, conds putConds) (ObjectInfo, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	unlock := s.lockKey(bucket, key)
	defer unlock()
	recs, keys, err := s.keyVersions(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	live := len(recs) > 0 && !recs[0].Del && !recs[0].Tomb
	if conds.ifNoneMatchStar && live {
		return ObjectInfo{}, ErrPreconditionFailed
	}
	if conds.ifMatch != "" && (!live || !etagMatches(conds.ifMatch, recs[0].ETag)) {
		if !live {
			return ObjectInfo{}, ErrNoSuchKey
		}
		return ObjectInfo{}, ErrPreconditionFailed
	}
	rec.version = s.newVersion()
	rec.Null = b.Versioning != VersioningEnabled
	c := commit{add: rec, recs: recs, keys: keys}
	if rec.Null {
		for i, old := range recs {
			if old.Null || old.Tomb {
				c.remove = append(c.remove, i)
			}
		}
	}
	if err := s.apply(bucket, key, c); err != nil {
		return ObjectInfo{}, err
	}
	return rec.info(bucket, key, true), nil
}

// etagMatches compares an If-Match style list ("a", "b" or *) with an ETag.
func etagMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		e = strings.TrimPrefix(e, "W/")
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

func checkMeta(m Meta, tags map[string]string) error {
	n := 0
	for k, v := range m.User {
		n += len(k) + len(v)
	}
	if n > MaxUserMetaBytes {
		return ErrMetadataTooLarge
	}
	return checkTags(tags)
}

func checkTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return ErrInvalidTag.With("Object tags cannot be greater than %d", MaxTags)
	}
	for k, v := range tags {
		if len(k) == 0 || len([]rune(k)) > 128 {
			return ErrInvalidTag.With("The TagKey you have provided is invalid")
		}
		if len([]rune(v)) > 256 {
			return ErrInvalidTag.With("The TagValue you have provided is invalid")
		}
	}
	return nil
}
