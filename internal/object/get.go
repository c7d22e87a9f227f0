package object

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/minicloud/minicloud/internal/blobstore"
)

// HeadObject returns the newest version of bucket/key (versionID "") or the named version.
// The newest version being a delete marker gives ErrNoSuchKey with info.DeleteMarker set; a named
// delete marker gives ErrMethodNotAllowed with info.DeleteMarker set.
func (s *Store) HeadObject(ctx context.Context, bucket, key, versionID string) (ObjectInfo, error) {
	_, info, err := s.lookup(bucket, key, versionID)
	return info, err
}

// GetObject is HeadObject plus a reader of length bytes from offset (length -1: to the end).
// The caller checks conditions on the info before reading and must Close the reader.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (ObjectInfo, Reader, error) {
	rec, info, err := s.lookup(bucket, key, versionID)
	if err != nil {
		return info, nil, err
	}
	rd, err := s.openRecord(rec, offset, length)
	if err != nil {
		return info, nil, err
	}
	return info, rd, nil
}

// PartRange returns the byte range of part n (1-based) of a version, for GET/HEAD ?partNumber.
// An object uploaded in one PUT has the single part 1.
func (s *Store) PartRange(ctx context.Context, bucket, key, versionID string, n int) (offset, length int64, parts int, err error) {
	rec, _, err := s.lookup(bucket, key, versionID)
	if err != nil {
		return 0, 0, 0, err
	}
	ends := rec.PartEnds
	if len(ends) == 0 {
		ends = []int64{rec.Size}
	}
	if n < 1 || n > len(ends) {
		return 0, 0, len(ends), ErrInvalidPartNumber
	}
	start := int64(0)
	if n > 1 {
		start = ends[n-2]
	}
	return start, ends[n-1] - start, len(ends), nil
}

func (s *Store) openRecord(rec *record, offset, length int64) (*objReader, error) {
	return s.openRecordFetch(rec, offset, length, nil)
}

// openRecordFetch opens rec; chunks missing here are read through fetch (from another replica).
func (s *Store) openRecordFetch(rec *record, offset, length int64, fetch func(blobstore.Ref) ([]byte, error)) (*objReader, error) {
	if offset < 0 || offset > rec.Size || (offset == rec.Size && rec.Size > 0) {
		return nil, ErrInvalidRange
	}
	if length < 0 || offset+length > rec.Size {
		length = rec.Size - offset
	}
	if rec.inline != nil || len(rec.Chunks) == 0 {
		if blobstore.CRC32C(rec.inline) != rec.InlineCRC {
			s.blobs.Corrupt.Add(1)
			s.log.Error("inline data failed its checksum", "size", len(rec.inline))
			return nil, fmt.Errorf("inline data: %w", ErrCorrupt)
		}
		if int64(len(rec.inline)) != rec.Size {
			return nil, fmt.Errorf("inline data size %d, record says %d: %w", len(rec.inline), rec.Size, ErrCorrupt)
		}
		return &objReader{s: s, cur: rec.inline[offset : offset+length]}, nil
	}
	starts := make([]int64, len(rec.Chunks))
	var pos int64
	for i, c := range rec.Chunks {
		starts[i] = pos
		pos += c.Size
	}
	idx := sort.Search(len(starts), func(i int) bool { return starts[i] > offset }) - 1
	if idx < 0 {
		idx = 0
	}
	r := &objReader{s: s, chunks: rec.Chunks, starts: starts, next: idx, pos: offset, remain: length, fetch: fetch}
	// Load the first chunk now, so that a corrupt or missing one fails the request with an error
	// status instead of a response cut short after its headers went out.
	if err := r.load(); err != nil && err != io.EOF {
		r.Close()
		return nil, err
	}
	return r, nil
}

// objReader streams a byte range of a version, verifying each chunk before handing out its bytes.
type objReader struct {
	s      *Store
	chunks []blobstore.Ref
	starts []int64
	next   int   // next chunk to load
	pos    int64 // object offset of cur[0] once cur is loaded from a chunk
	remain int64 // bytes still to return from chunks
	cur    []byte
	buf    *[]byte
	fetch  func(blobstore.Ref) ([]byte, error)
}

func (r *objReader) load() error {
	if r.next >= len(r.chunks) || r.remain <= 0 {
		return io.EOF
	}
	if r.buf == nil {
		r.buf = r.s.chunkBufs.Get().(*[]byte)
	}
	ref := r.chunks[r.next]
	data, err := r.s.blobs.Read(ref, *r.buf)
	if err != nil && r.fetch != nil && errors.Is(err, blobstore.ErrMissing) {
		data, err = r.fetch(ref)
		if err == nil && (int64(len(data)) != ref.Size || blobstore.CRC32C(data) != ref.CRC) {
			err = fmt.Errorf("chunk %s from a replica: %w", ref.ID, blobstore.ErrCorrupt)
		}
	}
	if err != nil {
		if errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrMissing) {
			r.s.log.Error("stored chunk unreadable", "chunk", ref.ID, "err", err)
			return fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		return err
	}
	if cap(data) > cap(*r.buf) {
		*r.buf = data
	}
	skip := r.pos - r.starts[r.next]
	data = data[skip:]
	if int64(len(data)) > r.remain {
		data = data[:r.remain]
	}
	r.remain -= int64(len(data))
	r.pos += int64(len(data))
	r.next++
	r.cur = data
	return nil
}

func (r *objReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.chunks == nil {
			return 0, io.EOF
		}
		if err := r.load(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo lets io.Copy write verified chunks straight from the read buffer.
func (r *objReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.cur) > 0 {
			n, err := w.Write(r.cur)
			total += int64(n)
			r.cur = r.cur[n:]
			if err != nil {
				return total, err
			}
		}
		if r.chunks == nil {
			return total, nil
		}
		if err := r.load(); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
	}
}

func (r *objReader) Close() error {
	if r.buf != nil {
		r.s.chunkBufs.Put(r.buf)
		r.buf = nil
	}
	r.cur = nil
	return nil
}

// ObjectParts lists the parts of a version (sizes only: a completed upload keeps no per-part
// ETags), for GET/HEAD ?partNumber=N. A single-PUT object has one part.
func (s *Store) ObjectParts(ctx context.Context, bucket, key, versionID string) ([]PartInfo, error) {
	rec, info, err := s.lookup(bucket, key, versionID)
	if err != nil {
		return nil, err
	}
	ends := rec.PartEnds
	if len(ends) == 0 {
		ends = []int64{rec.Size}
	}
	parts := make([]PartInfo, len(ends))
	start := int64(0)
	for i, e := range ends {
		parts[i] = PartInfo{Number: i + 1, Size: e - start, LastModified: info.LastModified}
		start = e
	}
	return parts, nil
}
