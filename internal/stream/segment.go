package stream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A log is a directory of segment files, each named by the offset of its first record
// (00000000000000000000.seg, ...). Records are only ever appended to the last one; when it
// passes the segment size it is fsynced and a new one begins, so every segment but the last is
// whole on disk. Retention deletes whole segments, oldest first.

const segSuffix = ".seg"

// indexEvery is the spacing in bytes of a segment's sparse index: a read seeks to the nearest
// entry at or before its offset or time and scans at most this much.
const indexEvery = 4 << 10

type indexEntry struct {
	offset  uint64
	pos     int64
	logTime int64
}

// segment is what the log keeps in memory about one segment file.
type segment struct {
	base  uint64 // offset of its first record
	path  string
	size  int64 // bytes of whole records (for the last segment: written, maybe not yet fsynced)
	first int64 // log time (unix ns) of the first record; 0 while empty
	// index is sparse (see indexEvery). The last segment's is kept up to date by the writer;
	// older ones are built on first read (nil until then).
	index []indexEntry
}

func segPath(dir string, base uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, segSuffix))
}

// listSegments returns the bases of the segment files in dir, in order.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var bases []uint64
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// scanner reads records one after the other from a segment file.
type scanner struct {
	r   *bufio.Reader
	pos int64 // position of the next record
	end int64 // read no record that ends beyond this
	hdr [headerLen]byte
	buf []byte
}

func newScanner(f *os.File, pos, end int64) *scanner {
	return &scanner{r: bufio.NewReaderSize(io.NewSectionReader(f, pos, end-pos), 64<<10), pos: pos, end: end}
}

// next returns the next record and its encoded length; io.EOF at a clean end, errTorn (wrapped)
// where the bytes are not a whole intact record. The payload is valid until the next call.
func (s *scanner) next() (Entry, int, error) {
	if s.pos == s.end {
		return Entry{}, 0, io.EOF
	}
	if s.end-s.pos < headerLen {
		return Entry{}, 0, fmt.Errorf("%w: %d bytes left for a header", errTorn, s.end-s.pos)
	}
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return Entry{}, 0, fmt.Errorf("read record at %d: %w", s.pos, err)
	}
	n, sum, err := bodyLen(s.hdr[:])
	if err != nil {
		return Entry{}, 0, err
	}
	if s.pos+headerLen+int64(n) > s.end {
		return Entry{}, 0, fmt.Errorf("%w: record at %d runs past the end", errTorn, s.pos)
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		return Entry{}, 0, fmt.Errorf("read record at %d: %w", s.pos, err)
	}
	e, err := decodeBody(s.buf, sum)
	if err != nil {
		return Entry{}, 0, err
	}
	s.pos += headerLen + int64(n)
	return e, headerLen + n, nil
}

// recoverSegment scans the last segment from the start, builds its index, and cuts off whatever
// follows the last whole record with the expected offset: the tail a crash left half written
// (or never fsynced, and now garbage). Returns the offset after its last record and that
// record's log time (0 when the segment is empty).
func recoverSegment(seg *segment, log func(msg string, args ...any)) (next uint64, lastTime int64, err error) {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("open segment %d: %w", seg.base, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat segment %d: %w", seg.base, err)
	}
	sc := newScanner(f, 0, st.Size())
	next = seg.base
	lastIdx := int64(-indexEvery)
	for {
		pos := sc.pos
		e, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && e.Offset != next {
			err = fmt.Errorf("%w: offset %d where %d was due", errTorn, e.Offset, next)
		}
		if err != nil {
			if !errors.Is(err, errTorn) {
				return 0, 0, err
			}
			// Zeros only: the space the writer fills ahead of its records (Log.prealloc),
			// left by a crash; nothing was lost, so nothing to report.
			if zero, zerr := allZero(f, pos, st.Size()); zerr != nil || !zero {
				log("stream log: cutting a torn tail off the last segment", "segment", seg.path, "at", pos, "dropped_bytes", st.Size()-pos, "err", err)
			}
			if err := f.Truncate(pos); err != nil {
				return 0, 0, fmt.Errorf("truncate segment %d: %w", seg.base, err)
			}
			if err := f.Sync(); err != nil {
				return 0, 0, fmt.Errorf("sync segment %d: %w", seg.base, err)
			}
			break
		}
		if seg.first == 0 {
			seg.first = e.LogTime.UnixNano()
		}
		if pos-lastIdx >= indexEvery {
			seg.index = append(seg.index, indexEntry{e.Offset, pos, e.LogTime.UnixNano()})
			lastIdx = pos
		}
		lastTime = e.LogTime.UnixNano()
		next++
	}
	seg.size = sc.pos
	return next, lastTime, nil
}

// allZero tells whether f holds only zero bytes in [from, to).
func allZero(f *os.File, from, to int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for from < to {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-from)], from)
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		from += int64(n)
		if err != nil {
			return from >= to, err
		}
	}
	return true, nil
}

// firstTime reads the log time of a sealed segment's first record.
func firstTime(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	e, _, err := newScanner(f, 0, st.Size()).next()
	if errors.Is(err, io.EOF) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("segment %s: %w", path, err)
	}
	return e.LogTime.UnixNano(), nil
}

// buildIndex scans a sealed segment for its sparse index.
func buildIndex(path string, size int64) ([]indexEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	sc := newScanner(f, 0, size)
	var idx []indexEntry
	lastIdx := int64(-indexEvery)
	for {
		pos := sc.pos
		e, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			return idx, nil
		}
		if err != nil {
			return nil, fmt.Errorf("index segment %s: %w", path, err)
		}
		if pos-lastIdx >= indexEvery {
			idx = append(idx, indexEntry{e.Offset, pos, e.LogTime.UnixNano()})
			lastIdx = pos
		}
	}
}

// syncDir makes a directory's entries (a new or deleted segment) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
