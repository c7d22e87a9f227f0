package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// segView is a reader's snapshot of a segment: its bounds when the read began.
type segView struct {
	seg   *segment
	base  uint64
	end   uint64 // offset after its last committed record
	size  int64  // bytes of committed records
	first int64  // log time of its first record (0: none yet)
}

// view returns the segments that hold committed entries, from the first.
func (l *Log) view() []segView {
	l.rmu.RLock()
	defer l.rmu.RUnlock()
	vs := make([]segView, len(l.segs))
	for i, s := range l.segs {
		vs[i] = segView{seg: s, base: s.base, size: s.size, first: s.first}
		if i+1 < len(l.segs) {
			vs[i].end = l.segs[i+1].base
		} else {
			vs[i].end = l.committed
		}
	}
	// The last segment may hold written records that are not yet committed (SyncAlways
	// commits after the fsync): read it only up to the committed offset.
	return vs
}

// index returns a segment's sparse index, building it for a sealed segment on first use.
func (l *Log) index(v segView) ([]indexEntry, error) {
	l.rmu.RLock()
	idx := v.seg.index
	l.rmu.RUnlock()
	if idx != nil {
		return idx, nil
	}
	idx, err := buildIndex(v.seg.path, v.size)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		idx = []indexEntry{}
	}
	l.rmu.Lock()
	v.seg.index = idx
	l.rmu.Unlock()
	return idx, nil
}

// Read returns up to max entries from offset from on (from the first retained entry if from
// was trimmed by retention), stopping early once maxBytes of payload are gathered (but always
// returning at least one entry when there is one). Only committed entries are returned.
func (l *Log) Read(from uint64, max int, maxBytes int) ([]Entry, error) {
	for attempt := 0; ; attempt++ {
		out, err := l.read(from, max, maxBytes)
		if errors.Is(err, os.ErrNotExist) && attempt < 3 {
			continue // retention removed the segment under us: the next view starts later
		}
		return out, err
	}
}

func (l *Log) read(from uint64, max int, maxBytes int) ([]Entry, error) {
	vs := l.view()
	if from < vs[0].base {
		from = vs[0].base
	}
	i := sort.Search(len(vs), func(i int) bool { return vs[i].end > from })
	var out []Entry
	bytes := 0
	for ; i < len(vs) && len(out) < max; i++ {
		v := vs[i]
		if v.end <= from || v.size == 0 {
			continue
		}
		idx, err := l.index(v)
		if err != nil {
			return nil, err
		}
		pos := int64(0)
		if j := sort.Search(len(idx), func(j int) bool { return idx[j].offset > from }); j > 0 {
			pos = idx[j-1].pos
		}
		done, err := scanFrom(v, pos, func(e Entry) bool {
			if e.Offset < from {
				return true
			}
			if e.Offset >= v.end || len(out) >= max || (bytes >= maxBytes && len(out) > 0) {
				return false
			}
			e.Payload = append([]byte(nil), e.Payload...)
			out = append(out, e)
			bytes += len(e.Payload)
			return true
		})
		if err != nil {
			return nil, err
		}
		if done || bytes >= maxBytes {
			break
		}
		from = v.end
	}
	return out, nil
}

// scanFrom calls fn for the records of v from pos until fn returns false (then it reports
// true) or the committed end.
func scanFrom(v segView, pos int64, fn func(Entry) bool) (bool, error) {
	f, err := os.Open(v.seg.path)
	if err != nil {
		return false, fmt.Errorf("open segment %d: %w", v.base, err)
	}
	defer f.Close()
	sc := newScanner(f, pos, v.size)
	for {
		e, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read segment %d: %w", v.base, err)
		}
		if !fn(e) {
			return true, nil
		}
	}
}

// Seek returns the offset of the first committed entry logged at or after t (the committed end
// if there is none).
func (l *Log) Seek(t time.Time) (uint64, error) {
	tn := t.UnixNano()
	vs := l.view()
	// The last segment whose first record is not after t holds the answer, or the next does.
	i := sort.Search(len(vs), func(i int) bool { return vs[i].first == 0 || vs[i].first > tn })
	if i > 0 {
		i--
	}
	for ; i < len(vs); i++ {
		v := vs[i]
		if v.size == 0 {
			continue
		}
		idx, err := l.index(v)
		if err != nil {
			return 0, err
		}
		pos := int64(0)
		if j := sort.Search(len(idx), func(j int) bool { return idx[j].logTime >= tn }); j > 0 {
			pos = idx[j-1].pos
		}
		found := v.end
		if _, err := scanFrom(v, pos, func(e Entry) bool {
			if e.Offset >= v.end {
				return false
			}
			if e.LogTime.UnixNano() >= tn {
				found = e.Offset
				return false
			}
			return true
		}); err != nil {
			return 0, err
		}
		if found < v.end {
			return found, nil
		}
	}
	return vs[len(vs)-1].end, nil
}

// Wait blocks until an entry at or after offset is committed, ctx ends or the log closes.
func (l *Log) Wait(ctx context.Context, offset uint64) error {
	for {
		l.rmu.RLock()
		committed, ch := l.committed, l.changed
		l.rmu.RUnlock()
		if committed > offset {
			return nil
		}
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
