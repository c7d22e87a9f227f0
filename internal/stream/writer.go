package stream

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
)

// retentionEvery is how often the writer checks age retention when nothing rolls a segment.
const retentionEvery = 10 * time.Second

// run is the writer goroutine: it writes what Append queued, fsyncs it (by groups), rolls
// segments and applies retention.
func (l *Log) run() {
	defer close(l.done)
	ret := time.NewTicker(retentionEvery)
	defer ret.Stop()
	for {
		select {
		case <-l.kick:
			l.flush()
		case <-ret.C:
			l.applyRetention()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

// syncer fsyncs what SyncWrite wrote, every SyncEvery, beside the writer: an fsync (milliseconds
// on a busy disk) then never holds up the writes that complete appends.
func (l *Log) syncer() {
	defer close(l.syncDone)
	if l.o.Sync != SyncWrite {
		return
	}
	t := time.NewTicker(l.o.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return // Close fsyncs the rest
		case <-t.C:
		}
		if !l.dirty.Swap(false) {
			continue
		}
		l.fmu.Lock()
		err := datasync(l.f)
		l.fmu.Unlock()
		if err != nil {
			l.fail(fmt.Errorf("sync segment: %w", err))
		}
	}
}

// flush writes the pending buffer and completes its group.
func (l *Log) flush() {
	l.mu.Lock()
	buf, g, next := l.pending, l.group, l.next
	if len(buf) == 0 {
		l.mu.Unlock()
		return // a kick for appends an earlier flush already took
	}
	// Appends go on into the spare buffer while this one is written: the two never alias.
	l.pending, l.group, l.spare = l.spare[:0], newCommit(), nil
	l.space.Broadcast()
	l.mu.Unlock()
	err := l.write(buf)
	if err == nil && l.o.Sync == SyncAlways {
		t := time.Now()
		if err = datasync(l.f); err != nil {
			err = fmt.Errorf("sync segment: %w", err)
		}
		l.fsyncs.observe(time.Since(t))
	}
	if err != nil {
		// Offsets were handed out; a hole would break the log's density. Refuse further
		// appends: the next start-up cuts off whatever part of this write reached the disk.
		l.fail(err)
		g.err = err
		close(g.done)
		return
	}
	l.rmu.Lock()
	l.committed = next
	close(l.changed)
	l.changed = make(chan struct{})
	l.rmu.Unlock()
	close(g.done)
	if g.start != 0 {
		l.commitWait.observe(time.Duration(l.o.Now().UnixNano() - g.start))
	}
	if cap(buf) <= 2*l.o.MaxPending {
		l.spare = buf[:0] // reuse, unless a burst made it huge
	}
}

func (l *Log) fail(err error) {
	l.log.Error("stream log write failed; it takes no more messages until the node restarts", "dir", l.o.Dir, "err", err)
	l.mu.Lock()
	if l.failed == nil {
		l.failed = fmt.Errorf("stream log %s: %w", l.o.Dir, err)
	}
	l.space.Broadcast()
	l.mu.Unlock()
}

// write appends whole records from buf to the last segment, rolling to a new segment whenever
// the last one is full, and keeps the segment's sparse index.
func (l *Log) write(buf []byte) error {
	for len(buf) > 0 {
		l.rmu.RLock()
		seg := l.segs[len(l.segs)-1]
		size := seg.size
		l.rmu.RUnlock()
		if size >= l.o.SegmentBytes {
			if err := l.roll(binary.LittleEndian.Uint64(buf[headerLen:])); err != nil {
				return err
			}
			continue
		}
		// Take records up to the segment's limit (at least one).
		n, idx := 0, []indexEntry(nil)
		lastIdx := int64(-indexEvery)
		if k := len(seg.index); k > 0 {
			lastIdx = seg.index[k-1].pos
		}
		var first int64
		for n < len(buf) && (n == 0 || size+int64(n) < l.o.SegmentBytes) {
			body := buf[n+headerLen:]
			off, lt := binary.LittleEndian.Uint64(body), int64(binary.LittleEndian.Uint64(body[8:]))
			if first == 0 {
				first = lt
			}
			if pos := size + int64(n); pos-lastIdx >= indexEvery {
				idx = append(idx, indexEntry{off, pos, lt})
				lastIdx = pos
			}
			n += headerLen + int(binary.LittleEndian.Uint32(buf[n:]))
		}
		if err := l.prealloc(size + int64(n)); err != nil {
			return fmt.Errorf("preallocate segment %d: %w", seg.base, err)
		}
		if _, err := l.f.WriteAt(buf[:n], size); err != nil {
			return fmt.Errorf("write segment %d: %w", seg.base, err)
		}
		l.dirty.Store(true)
		l.rmu.Lock()
		seg.size += int64(n)
		seg.index = append(seg.index, idx...)
		if seg.first == 0 {
			seg.first = first
		}
		l.rmu.Unlock()
		buf = buf[n:]
	}
	return nil
}

// roll fsyncs and closes the last segment and starts a new one at offset base. Every segment but
// the last is therefore whole on disk.
func (l *Log) roll(base uint64) error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if err := l.seal(); err != nil {
		return err
	}
	l.f.Close()
	path := segPath(l.o.Dir, base)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create segment %d: %w", base, err)
	}
	if err := syncDir(l.o.Dir); err != nil {
		f.Close()
		return err
	}
	l.f, l.alloc = f, 0
	l.dirty.Store(false)
	l.rmu.Lock()
	l.segs = append(l.segs, &segment{base: base, path: path})
	l.rmu.Unlock()
	l.applyRetention()
	return nil
}

// preallocChunk is how far ahead of its records a segment file is filled with zeros (at most
// SegmentBytes).
const preallocChunk = 1 << 20

var zeros = make([]byte, 64<<10)

// prealloc makes l.f at least end bytes long, writing zeros up to the next preallocChunk
// boundary. The group commit's fdatasync then writes records into blocks the file already
// has: no change of size or extents, so no commit of the file system's journal, which on ext4
// costs a multiple of the data flush and queues behind every other process's metadata
// changes (measured here: median 0.16-0.2 ms instead of 0.26-1.3 ms). The first fdatasync
// after an extension commits it like any fsync. The zeros after the records are cut off
// when the segment is sealed, and by start-up recovery after a crash (recoverSegment).
func (l *Log) prealloc(end int64) error {
	if end <= l.alloc {
		return nil
	}
	chunk := min(int64(preallocChunk), max(l.o.SegmentBytes, 4<<10))
	target := (end + chunk - 1) / chunk * chunk
	for l.alloc < target {
		n, err := l.f.WriteAt(zeros[:min(int64(len(zeros)), target-l.alloc)], l.alloc)
		l.alloc += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// seal cuts the zeros after the last segment's records and fsyncs it: a sealed segment's
// file is exactly its records.
func (l *Log) seal() error {
	l.rmu.RLock()
	size := l.segs[len(l.segs)-1].size
	l.rmu.RUnlock()
	if l.alloc > size {
		if err := l.f.Truncate(size); err != nil {
			return fmt.Errorf("truncate segment: %w", err)
		}
		l.alloc = size
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync segment: %w", err)
	}
	return nil
}

// applyRetention deletes the oldest segments (never the last) while the log is over MaxBytes or
// while every record of the oldest is older than Retain: a segment's records are all at most as
// old as the next segment's first.
func (l *Log) applyRetention() {
	now := l.o.Now()
	var drop []*segment
	l.rmu.Lock()
	cutoff := int64(0)
	if l.retain > 0 {
		cutoff = now.Add(-l.retain).UnixNano()
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	for len(l.segs) > 1 {
		old, next := l.segs[0], l.segs[1]
		overSize := l.maxBytes > 0 && total > l.maxBytes
		overAge := cutoff > 0 && next.first != 0 && next.first < cutoff
		if !overSize && !overAge {
			break
		}
		drop = append(drop, old)
		total -= old.size
		l.segs = l.segs[1:]
	}
	l.rmu.Unlock()
	for _, s := range drop {
		// A reader that opened the file already keeps reading it; one that opens it after this
		// finds it gone and starts again from the new first offset.
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			l.log.Warn("stream log: delete old segment", "segment", s.path, "err", err)
		}
	}
	if len(drop) > 0 {
		l.log.Debug("stream log: retention dropped segments", "dir", l.o.Dir, "segments", len(drop))
		if err := syncDir(l.o.Dir); err != nil {
			l.log.Warn("stream log: sync dir after retention", "err", err)
		}
	}
}
