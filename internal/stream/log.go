package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SyncMode says when an append counts as done (its Wait returns).
type SyncMode uint8

const (
	// SyncAlways: after the record is fsynced. It then survives a power cut; appends that
	// arrive while one fsync runs share the next (group commit), so one fsync covers many.
	SyncAlways SyncMode = iota
	// SyncWrite: after the record is written to the file. It then survives a crash or kill -9 of
	// the process (the kernel holds it) but not a power cut within SyncEvery, by which time an
	// fsync covers it. For brokers whose publishers must not wait for a disk flush.
	SyncWrite
)

// LogOptions configure a Log.
type LogOptions struct {
	Dir    string
	Origin string // this node's id: the origin of the log's Local and Peer entries
	// Start is the offset of the first record of a new log (one whose Dir holds no segment).
	Start        uint64
	SegmentBytes int64 // a segment is closed once it holds this many bytes
	Sync         SyncMode
	SyncEvery    time.Duration // SyncWrite: longest a written record waits for its fsync
	MaxPending   int           // bytes waiting for the writer beyond which Append blocks
	Retain       time.Duration // drop segments whose records are all older (0: no age limit)
	MaxBytes     int64         // drop the oldest segments while the log is larger (0: no limit)
	Now          func() time.Time
	Logger       *slog.Logger
}

// DefaultLogOptions returns the options a stream's log runs with, before its definition's
// retention is applied.
func DefaultLogOptions() LogOptions {
	return LogOptions{
		SegmentBytes: 64 << 20,             // retention works in steps of this; a segment is scanned in well under a second
		Sync:         SyncAlways,           // I1: acknowledged means fsynced
		SyncEvery:    5 * time.Millisecond, // SyncWrite only: what a power cut may lose
		MaxPending:   32 << 20,             // a few hundred milliseconds of a fast disk: absorbs fsync stalls
		Now:          time.Now,
	}
}

// Log is one stream's durable log on this node. Appends are encoded into a pending buffer under
// a mutex (which fixes their order and offsets) and written by one writer goroutine, which
// completes them by groups.
type Log struct {
	o   LogOptions
	log *slog.Logger

	mu      sync.Mutex
	space   *sync.Cond // signalled when the writer takes the pending buffer
	pending []byte
	group   *Commit // completes when pending is written (SyncAlways: and fsynced)
	next    uint64  // offset of the next append
	lastLog int64   // log time of the last append, unix ns
	// localFrom: no Local entry has an offset in [localFrom, next). It is the offset after
	// the last Local entry appended since the log opened (next at open before any): what a
	// peer of the site needs to know that it holds every Local entry up to one (Entry.From).
	localFrom uint64
	// opened (unix ns) and base (next then) name this opening of the log: offsets at or
	// after base that an earlier opening handed out were lost with it (never written before
	// a crash) and are handed out again, so a peer must forget what it held of them
	// (peersync.go). Fixed once OpenLog returns.
	opened int64
	base   uint64
	closed bool
	failed error // a write failed: the log takes no more appends until reopened

	rmu       sync.RWMutex // guards segs and committed for readers
	segs      []*segment
	committed uint64        // entries below it are written (SyncAlways: and fsynced): readable
	retain    time.Duration // see LogOptions; SetRetention changes them
	maxBytes  int64
	changed   chan struct{} // closed and replaced whenever committed grows: followers wait on it

	// writer goroutine only; l.f is also read by the syncer under fmu, and replaced under it
	f     *os.File // the last segment
	alloc int64    // bytes of l.f: its records, then zeros written ahead of them (prealloc)
	spare []byte
	fmu   sync.Mutex  // held while the syncer fsyncs l.f and while the writer replaces or closes it
	dirty atomic.Bool // written since the last fsync (SyncWrite)

	appended, appendedBytes atomic.Uint64
	// commitWait: from a group's first append until it is done (what a QoS 1 publisher's
	// PUBACK waits for at most, from the log); fsyncs: the flush of a group commit alone.
	commitWait, fsyncs   latencies
	kick                 chan struct{}
	stop, done, syncDone chan struct{}
}

// Commit is a group of appends that the writer completes together.
type Commit struct {
	done  chan struct{}
	err   error
	start int64 // log time (unix ns) of its first append; under Log.mu until taken by the writer
}

func newCommit() *Commit { return &Commit{done: make(chan struct{})} }

// Wait blocks until the appends of the group are done (see SyncMode) and returns their error.
func (g *Commit) Wait() error {
	<-g.done
	return g.err
}

// Done tells, without blocking, whether the group is done (Wait returns at once).
func (g *Commit) Done() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// ErrClosed is returned by appends to a closed log.
var ErrClosed = errors.New("stream log closed")

// OpenLog opens (or creates) the log in o.Dir, cutting off a torn tail of its last segment, and
// starts its writer.
func OpenLog(o LogOptions) (*Log, error) {
	def := DefaultLogOptions()
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = def.SegmentBytes
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = def.SyncEvery
	}
	if o.MaxPending <= 0 {
		o.MaxPending = def.MaxPending
	}
	if o.Now == nil {
		o.Now = def.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create stream log dir: %w", err)
	}
	l := &Log{o: o, log: o.Logger, group: newCommit(), changed: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), syncDone: make(chan struct{})}
	l.space = sync.NewCond(&l.mu)
	l.retain, l.maxBytes = o.Retain, o.MaxBytes
	if err := l.load(); err != nil {
		return nil, err
	}
	l.applyRetention()
	go l.run()
	go l.syncer()
	return l, nil
}

// load reads the segment list, recovers the last segment and opens it for appending.
func (l *Log) load() error {
	bases, err := listSegments(l.o.Dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		bases = []uint64{l.o.Start}
		f, err := os.OpenFile(segPath(l.o.Dir, l.o.Start), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("create segment: %w", err)
		}
		f.Close()
		if err := syncDir(l.o.Dir); err != nil {
			return err
		}
	}
	for i, base := range bases {
		seg := &segment{base: base, path: segPath(l.o.Dir, base)}
		if i < len(bases)-1 {
			st, err := os.Stat(seg.path)
			if err != nil {
				return fmt.Errorf("stat segment %d: %w", base, err)
			}
			seg.size = st.Size()
			if seg.first, err = firstTime(seg.path); err != nil {
				return err
			}
		}
		l.segs = append(l.segs, seg)
	}
	last := l.segs[len(l.segs)-1]
	if l.next, l.lastLog, err = recoverSegment(last, l.log.Warn); err != nil {
		return err
	}
	if l.lastLog == 0 && len(l.segs) > 1 {
		l.lastLog = l.segs[len(l.segs)-2].first // an empty last segment: close enough to keep times from going back
	}
	l.committed, l.localFrom, l.base = l.next, l.next, l.next
	l.opened = l.o.Now().UnixNano()
	if l.f, err = os.OpenFile(last.path, os.O_WRONLY, 0); err != nil {
		return fmt.Errorf("open segment %d for append: %w", last.base, err)
	}
	l.alloc = last.size // recoverSegment cut the file after its last record
	return nil
}

// Append adds entries to the log in order and returns the offset of the first and the group
// whose Wait tells when they are done. A Local entry gets this node as origin, its offset as
// sequence and its From; a Peer or Imported one keeps the origin and sequence it has (a Peer
// entry without an origin is logged as this node's, as before peers carried ids). A zero Time
// becomes the log time.
func (l *Log) Append(es ...Entry) (uint64, *Commit, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.pending) > l.o.MaxPending && !l.closed && l.failed == nil {
		l.space.Wait() // the disk is behind: make publishers wait rather than grow without bound
	}
	if l.closed {
		return 0, nil, ErrClosed
	}
	if l.failed != nil {
		return 0, nil, l.failed
	}
	now := l.o.Now().UnixNano()
	if now < l.lastLog {
		now = l.lastLog // log times never go back, so a time finds its place by binary search
	}
	l.lastLog = now
	if l.group.start == 0 {
		l.group.start = now
	}
	first := l.next
	var bytes uint64
	for i := range es {
		e := &es[i]
		e.Offset, e.LogTime = l.next, time.Unix(0, now)
		switch {
		case e.Kind == Local:
			e.Origin, e.Seq = l.o.Origin, e.Offset
			e.From, l.localFrom = l.localFrom, e.Offset+1
		case e.Kind == Peer && e.Origin == "":
			e.Origin, e.Seq = l.o.Origin, e.Offset
		}
		if e.Time.IsZero() {
			e.Time = e.LogTime
		}
		if len(e.Origin) > 255 || len(e.Topic) > 65535 || recordLen(e) > maxBodyLen {
			return 0, nil, fmt.Errorf("append to stream log: entry too large (origin %d, topic %d, payload %d bytes)", len(e.Origin), len(e.Topic), len(e.Payload))
		}
		l.pending = appendRecord(l.pending, e)
		l.next++
		bytes += uint64(len(e.Payload))
	}
	l.appended.Add(uint64(len(es)))
	l.appendedBytes.Add(bytes)
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return first, l.group, nil
}

// Close writes and fsyncs what is pending, stops the writer and closes the files. Appends after
// Close fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.space.Broadcast()
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	<-l.syncDone
	err := l.seal()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.rmu.Lock()
	close(l.changed) // wake followers; they see the log closed
	l.rmu.Unlock()
	if err != nil {
		return fmt.Errorf("close stream log: %w", err)
	}
	return nil
}

// SetRetention changes the limits retention applies (0: none); the writer applies them within
// seconds.
func (l *Log) SetRetention(retain time.Duration, maxBytes int64) {
	l.rmu.Lock()
	l.retain, l.maxBytes = retain, maxBytes
	l.rmu.Unlock()
}

// Next is the offset the next append gets.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Bounds returns the first retained offset and the committed end: entries in [first, end) can
// be read.
func (l *Log) Bounds() (first, end uint64) {
	l.rmu.RLock()
	defer l.rmu.RUnlock()
	return l.segs[0].base, l.committed
}

// Size is the bytes of the log's segments.
func (l *Log) Size() int64 {
	l.rmu.RLock()
	defer l.rmu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}
