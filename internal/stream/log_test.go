package stream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for log times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTestLog(t *testing.T, dir string, mod func(*LogOptions)) *Log {
	t.Helper()
	o := DefaultLogOptions()
	o.Dir, o.Origin = dir, "n1"
	if mod != nil {
		mod(&o)
	}
	l, err := OpenLog(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func payload(i int) []byte {
	return []byte(fmt.Sprintf("message %06d %s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, c, err := l.Append(Entry{Topic: fmt.Sprintf("sensors/%d", i%3), Payload: payload(i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func checkRange(t *testing.T, got []Entry, from int) {
	t.Helper()
	for i, e := range got {
		want := from + i
		if e.Offset != uint64(want) || !bytes.Equal(e.Payload, payload(want)) || e.Topic != fmt.Sprintf("sensors/%d", want%3) {
			t.Fatalf("entry %d: offset %d topic %s payload %q", want, e.Offset, e.Topic, e.Payload)
		}
		if e.ID() != fmt.Sprintf("n1-%d", want) || e.Kind != Local {
			t.Fatalf("entry %d: id %s kind %v", want, e.ID(), e.Kind)
		}
	}
}

func TestLogAppendReadAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	small := func(o *LogOptions) { o.SegmentBytes = 1000 }
	l := openTestLog(t, dir, small)
	appendN(t, l, 0, 300)
	if segs, _ := listSegments(dir); len(segs) < 10 {
		t.Fatalf("%d segments, want many with 1000-byte segments", len(segs))
	}
	got, err := l.Read(0, 1000, 1<<30)
	if err != nil || len(got) != 300 {
		t.Fatalf("read: %d entries, %v", len(got), err)
	}
	checkRange(t, got, 0)
	for _, from := range []int{1, 17, 150, 299} {
		got, err := l.Read(uint64(from), 5, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, got, from)
		if want := min(5, 300-from); len(got) != want {
			t.Fatalf("read from %d: %d entries, want %d", from, len(got), want)
		}
	}
	if got, _ := l.Read(300, 5, 1<<30); len(got) != 0 {
		t.Fatalf("read at the end: %d entries", len(got))
	}
	if got, _ := l.Read(10, 100, 1); len(got) != 1 {
		t.Fatalf("maxBytes 1 returns %d entries, want exactly one", len(got))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, small)
	if l.Next() != 300 {
		t.Fatalf("reopened log continues at %d, want 300", l.Next())
	}
	appendN(t, l, 300, 10)
	got, _ = l.Read(0, 1000, 1<<30)
	checkRange(t, got, 0)
	if len(got) != 310 {
		t.Fatalf("after reopen: %d entries", len(got))
	}
}

// A crash can leave the last segment with a half-written record (or garbage where an unsynced
// write never landed): start-up cuts it off, the log serves only whole records and continues
// with the offset after the last of them.
func TestLogTornTailIsCutAtOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(path string, size int64) error
	}{
		{"half record", func(p string, size int64) error { return os.Truncate(p, size-7) }},
		{"half header", func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte{0x20, 0})
			return err
		}},
		{"garbage tail", func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(bytes.Repeat([]byte{0xAB}, 300))
			return err
		}},
		{"zeros ahead", func(p string, size int64) error { // a crash before the writer cut its preallocated space
			return os.Truncate(p, size+3<<20)
		}},
		{"half record, zeros ahead", func(p string, size int64) error {
			if err := os.Truncate(p, size-7); err != nil {
				return err
			}
			return os.Truncate(p, size+1<<20)
		}},
		{"flipped byte", func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{0xFF}, size-3) // inside the last record's payload
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := DefaultLogOptions()
			o.Dir, o.Origin = dir, "n1"
			l, err := OpenLog(o)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 0, 50)
			l.Close()
			path := segPath(dir, 0)
			st, _ := os.Stat(path)
			if err := tc.tear(path, st.Size()); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, dir, nil)
			want := 50
			if tc.name == "half record" || tc.name == "flipped byte" || tc.name == "half record, zeros ahead" {
				want = 49 // the damaged last record is gone, never served half
			}
			got, err := l.Read(0, 100, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want || l.Next() != uint64(want) {
				t.Fatalf("after the tear: %d entries, next %d; want %d", len(got), l.Next(), want)
			}
			checkRange(t, got, 0)
			appendN(t, l, want, 5)
			got, _ = l.Read(0, 100, 1<<30)
			checkRange(t, got, 0)
			if len(got) != want+5 {
				t.Fatalf("appends after recovery: %d entries", len(got))
			}
		})
	}
}

// The writer fills the last segment with zeros ahead of its records (so that a group commit's
// fdatasync changes no metadata); a crash leaves them, a reopen serves exactly the records and
// appends after them, and a sealed segment (closed or rolled) is exactly its records.
func TestLogPreallocatedSpace(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, func(o *LogOptions) { o.SegmentBytes = 64 << 10 })
	appendN(t, l, 0, 50)
	st, err := os.Stat(segPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() <= l.Size() {
		t.Fatalf("segment file %d bytes for %d bytes of records: nothing preallocated", st.Size(), l.Size())
	}
	// What a crash (kill -9, power cut after the fdatasync) leaves: records, then zeros.
	crashed := t.TempDir()
	raw, err := os.ReadFile(segPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segPath(crashed, 0), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c := openTestLog(t, crashed, func(o *LogOptions) { o.SegmentBytes = 64 << 10 })
	if c.Next() != 50 {
		t.Fatalf("after the crash the log continues at %d, want 50", c.Next())
	}
	appendN(t, c, 50, 2000) // rolls segments
	got, err := c.Read(0, 5000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, got, 0)
	if len(got) != 2050 {
		t.Fatalf("%d entries after the crash and more appends, want 2050", len(got))
	}
	c.Close()
	bases, err := listSegments(crashed)
	if err != nil || len(bases) < 2 {
		t.Fatalf("segments %v (%v): want several", bases, err)
	}
	c = openTestLog(t, crashed, func(o *LogOptions) { o.SegmentBytes = 64 << 10 })
	var total int64
	for _, b := range bases {
		st, err := os.Stat(segPath(crashed, b))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total != c.Size() {
		t.Fatalf("sealed segments hold %d bytes for %d bytes of records", total, c.Size())
	}
}

func TestLogRetentionBySizeAndAge(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	l := openTestLog(t, dir, func(o *LogOptions) {
		o.SegmentBytes, o.MaxBytes, o.Now = 2000, 10000, clock.Now
	})
	for i := 0; i < 400; i++ {
		appendN(t, l, i, 1)
		clock.Advance(time.Second)
	}
	first, end := l.Bounds()
	if end != 400 || first == 0 {
		t.Fatalf("bounds [%d, %d): size retention dropped nothing", first, end)
	}
	if size := l.Size(); size > 10000+2000 {
		t.Fatalf("log holds %d bytes, limit 10000 (+ one segment)", size)
	}
	got, err := l.Read(0, 1000, 1<<30) // from a trimmed offset: starts at the first retained
	if err != nil || len(got) == 0 || got[0].Offset != first {
		t.Fatalf("read from 0 after trimming: %d entries, %v", len(got), err)
	}
	checkRange(t, got, int(first))
	l.Close()

	// Age: keep the last 50 s; the writer applies retention when it opens.
	sizeFirst := first
	l = openTestLog(t, dir, func(o *LogOptions) { o.SegmentBytes, o.Retain, o.Now = 2000, 50*time.Second, clock.Now })
	first, _ = l.Bounds()
	got, _ = l.Read(0, 1, 1<<30)
	// Each segment is all older than the next one's first record: the first kept segment may
	// start before the cutoff, the one after it may not.
	cutoff := clock.Now().Add(-50 * time.Second)
	if len(got) == 0 || got[0].Offset != first || got[0].LogTime.After(cutoff) || first <= sizeFirst {
		t.Fatalf("age retention kept from offset %d (logged %v), cutoff %v", first, got[0].LogTime, cutoff)
	}
}

func TestLogSeekByTime(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	start := clock.Now()
	l := openTestLog(t, t.TempDir(), func(o *LogOptions) { o.SegmentBytes, o.Now = 3000, clock.Now })
	for i := 0; i < 200; i++ {
		appendN(t, l, i, 1)
		clock.Advance(time.Second)
	}
	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{start.Add(-time.Hour), 0},
		{start, 0},
		{start.Add(500 * time.Millisecond), 1},
		{start.Add(77 * time.Second), 77},
		{start.Add(199 * time.Second), 199},
		{start.Add(time.Hour), 200},
	} {
		got, err := l.Seek(tc.at)
		if err != nil || got != tc.want {
			t.Errorf("seek %v: %d, %v; want %d", tc.at.Sub(start), got, err, tc.want)
		}
	}
	// Log times never go back, even if the clock does.
	clock.Advance(-time.Hour)
	appendN(t, l, 200, 1)
	got, _ := l.Read(199, 2, 1<<30)
	if !got[1].LogTime.Equal(got[0].LogTime) {
		t.Fatalf("log time went back: %v after %v", got[1].LogTime, got[0].LogTime)
	}
}

func TestLogConcurrentAppendsAndFollow(t *testing.T) {
	l := openTestLog(t, t.TempDir(), func(o *LogOptions) { o.SegmentBytes = 64 << 10 })
	const writers, each = 8, 500
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(chan int, 1)
	go func() { // a follower reads everything as it commits
		next, n := uint64(0), 0
		for n < writers*each {
			if err := l.Wait(ctx, next); err != nil {
				break
			}
			es, err := l.Read(next, 1000, 1<<20)
			if err != nil {
				break
			}
			for _, e := range es {
				if e.Offset != next {
					break
				}
				next++
				n++
			}
		}
		seen <- n
	}()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last *Commit
			for i := 0; i < each; i++ {
				_, c, err := l.Append(Entry{Topic: "t", Payload: []byte(fmt.Sprintf("%d/%d", w, i))})
				if err != nil {
					t.Error(err)
					return
				}
				last = c
			}
			if err := last.Wait(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := <-seen; n != writers*each {
		t.Fatalf("follower saw %d entries, want %d", n, writers*each)
	}
	// Per writer, entries are in the order appended.
	es, _ := l.Read(0, writers*each, 1<<30)
	next := map[string]int{}
	for _, e := range es {
		var w, i int
		fmt.Sscanf(string(e.Payload), "%d/%d", &w, &i)
		key := fmt.Sprint(w)
		if i != next[key] {
			t.Fatalf("writer %d: entry %d after %d", w, i, next[key]-1)
		}
		next[key]++
	}
}

func TestLogImportedKeepsOriginAndClosedRefuses(t *testing.T) {
	l := openTestLog(t, t.TempDir(), nil)
	pub := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	_, c, err := l.Append(Entry{Kind: Imported, Origin: "n9", Seq: 41, Time: pub, Topic: "a/b", Payload: []byte("p")},
		Entry{Kind: Peer, Topic: "a/c", Payload: []byte("q")})
	if err != nil || c.Wait() != nil {
		t.Fatal(err)
	}
	es, _ := l.Read(0, 10, 1<<20)
	if es[0].ID() != "n9-41" || !es[0].Time.Equal(pub) || es[0].Kind != Imported {
		t.Fatalf("imported entry: %+v", es[0])
	}
	if es[1].ID() != "n1-1" || es[1].Kind != Peer {
		t.Fatalf("peer entry: %+v", es[1])
	}
	l.Close()
	if _, _, err := l.Append(Entry{Topic: "x"}); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Wait(context.Background(), 5); err != ErrClosed {
		t.Fatalf("wait after close: %v", err)
	}
	_ = filepath.Join
}

// Regression: the writer once reused the buffer appends were going into while writing it, so
// under concurrent appends a record on disk could be replaced by a later one (a valid record
// with the wrong offset). Every read, from every offset, must return dense offsets.
func TestLogReadFromEveryOffsetAfterConcurrentAppends(t *testing.T) {
	l := openTestLog(t, t.TempDir(), func(o *LogOptions) { o.SegmentBytes = 16 << 10 })
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				_, c, err := l.Append(Entry{Topic: "t", Payload: []byte(fmt.Sprintf("%d/%d", w, i))})
				if err == nil {
					err = c.Wait() // many small groups: the writer often finds nothing new
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for from := uint64(0); from < 4000; from += 3 {
		es, err := l.Read(from, 300, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range es {
			if e.Offset != from+uint64(i) {
				t.Fatalf("read from %d: entry %d has offset %d", from, i, e.Offset)
			}
		}
	}
}

// SyncWrite completes appends once written; what was written survives a reopen (as it survives
// a kill of the process: the kernel has it).
func TestLogSyncWrite(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, func(o *LogOptions) { o.Sync, o.SyncEvery = SyncWrite, time.Millisecond })
	appendN(t, l, 0, 100)
	if _, end := l.Bounds(); end != 100 {
		t.Fatalf("committed end %d after 100 completed appends", end)
	}
	time.Sleep(5 * time.Millisecond) // an fsync runs meanwhile
	l.Close()
	l = openTestLog(t, dir, nil)
	got, _ := l.Read(0, 200, 1<<30)
	checkRange(t, got, 0)
	if len(got) != 100 {
		t.Fatalf("%d entries after reopen", len(got))
	}
}

// Start-up recovery never panics on garbage after whole records, and keeps every whole record
// before it.
func FuzzRecoverSegment(f *testing.F) {
	f.Add([]byte{0x20, 0, 0, 0, 1, 2, 3, 4})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		o := DefaultLogOptions()
		o.Dir, o.Origin = dir, "n1"
		l, err := OpenLog(o)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 3)
		l.Close()
		fh, err := os.OpenFile(segPath(dir, 0), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(tail)
		fh.Close()
		l, err = OpenLog(o)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got, err := l.Read(0, 10, 1<<20)
		if err != nil || len(got) < 3 {
			t.Fatalf("after a tail of %d bytes: %d entries, %v", len(tail), len(got), err)
		}
		checkRange(t, got[:3], 0)
	})
}
