package stream

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/metastore"
)

// Catching up within the site (DESIGN I3, I4). Every node of a site logs every message of a
// stream: the node a message entered by as a Local entry, the others as Peer entries that keep
// its id (origin node, offset there). The live copy a node sends its peers as it logs a
// message (internal/node/streamrepl.go) misses a peer that is down, stopped or too slow; so
// each node also asks each other node of the site, periodically and when it comes back, for
// that node's Local entries it does not hold yet, and logs them. What a node holds of origin X
// is, per stream:
//
//	next   every Local entry of X's log below this offset is in this log
//	extra  entries of X at or after next that this log holds (a live copy that came while an
//	       earlier one was missing, or one found by the start-up scan)
//
// A live copy carries From (Entry.From): X has no Local entry in [From, Seq). When From <= next
// the copy extends next to Seq+1, so while nothing is lost next follows X's log and extra stays
// empty. Catch-up asks X for its Local entries from next on; X answers them with the offset it
// read up to, which becomes next. A copy is logged only when it is neither below next nor in
// extra, so each message is in the log once, whichever of the two paths brings it first.
//
// next survives restarts in the metastore (peerSyncState), saved every peerSyncSaveEvery and at
// close, together with the log offset from which a start-up scan finds what came after (and
// every extra entry); the scan puts what it finds in extra, and the next catch-up round prunes it.
//
// Offsets are ids only within one opening of the origin's log: entries it had handed out but
// not yet written when it crashed are lost there, and their offsets are handed out again to
// other messages after the restart, while a peer may hold a live copy of the lost ones. So
// copies and answers name the opening (Log.opened) and its first offset (Log.base); a node
// that meets a later opening forgets what it held of the origin from base on (it keeps those
// entries, which then share an id with a new message: a loss of the origin, rare and visible
// only to readers who compare ids of Peer entries), so the new messages are logged.
//
// Logs written before copies carried ids (no saved state, entries in the log) hold Peer entries
// with this node as origin that cannot be matched against X's ids: such a log ("legacy") starts
// each origin at the origin's end when it first reaches it, rather than fetching X's retained
// history again (which would log those messages twice). Messages such a node missed before the
// upgrade are not fetched.

// peerSyncSaveEvery is how often what a node holds of its peers is saved: at most this much
// is scanned at start-up and fetched again from the peers (and dropped as held).
const peerSyncSaveEvery = 2 * time.Second

// catchUpMax and catchUpBytes bound one catch-up answer (well under the RPC's 8 MiB).
const (
	catchUpMax   = 4096
	catchUpBytes = 4 << 20
)

// peerSync is what one stream's log on this node holds of the other nodes' Local entries.
type peerSync struct {
	self  string
	epoch int64 // Def.Created of the stream
	l     *Log
	db    *metastore.DB
	key   []byte

	mu      sync.Mutex // held across a check and the Append that follows it
	legacy  bool
	origins map[string]*originSync
	changed bool // since the last save
}

type originSync struct {
	known bool // next is established (false: a legacy log that has not reached the origin yet)
	next  uint64
	extra map[uint64]extraEntry
	end   uint64 // the origin's committed end when it last answered a catch-up
	// opened is the latest opening of the origin's log met (see above); 0: none yet.
	opened uint64
	// nextTime is the publish time (unix ns) of an entry of the origin below next, the latest
	// known (0: none): every entry at or after next was published at or after it (an origin's
	// Local entries take its log time), which is where a relay starts looking (relay.go).
	nextTime int64
	// relay: per node that relays the origin's entries (while it is down), how far into that
	// node's log this node has looked (relay.go). In memory: a restart looks again from
	// nextTime.
	relay map[string]uint64

	caught, live, dups, lost uint64
	lastErr                  string
}

type extraEntry struct {
	from uint64 // see PeerEntry.From; its Seq when unknown
	off  uint64 // its offset in this log
	t    int64  // its publish time, unix ns
}

// peerSyncState is peerSync as saved.
type peerSyncState struct {
	Epoch   int64             `json:"epoch"`
	Legacy  bool              `json:"legacy,omitempty"`
	LogNext uint64            `json:"logNext"` // the start-up scan begins here
	Origins map[string]uint64 `json:"origins"` // next of each known origin
	Opened  map[string]uint64 `json:"opened,omitempty"`
	Times   map[string]int64  `json:"times,omitempty"` // nextTime of each origin
}

// openPeerSync loads what the log holds of its peers: the saved state, then a scan of the log
// after it. A new log's state is saved at once, so that a log with entries and no state is
// always one written before ids.
func openPeerSync(db *metastore.DB, name string, epoch int64, self string, l *Log) (*peerSync, error) {
	ps := &peerSync{self: self, epoch: epoch, l: l, db: db, key: stateKey(subPeer, name, ""), origins: map[string]*originSync{}}
	var st peerSyncState
	ok, err := loadState(db, ps.key, &st)
	if err != nil {
		return nil, err
	}
	if !ok || st.Epoch != epoch {
		st = peerSyncState{Epoch: epoch, Legacy: l.Next() > 0}
		if err := saveState(db, ps.key, st); err != nil {
			return nil, err
		}
	}
	ps.legacy = st.Legacy
	for id, next := range st.Origins {
		ps.origins[id] = &originSync{known: true, next: next}
	}
	for id, opened := range st.Opened {
		ps.origin(id).opened = opened
	}
	for id, t := range st.Times {
		ps.origin(id).nextTime = t
	}
	if err := ps.scan(st.LogNext); err != nil {
		return nil, err
	}
	return ps, nil
}

// scan notes the Peer entries logged from offset from on.
func (ps *peerSync) scan(from uint64) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for {
		es, err := ps.l.Read(from, 10000, 16<<20)
		if err != nil {
			return fmt.Errorf("scan stream log for peer entries: %w", err)
		}
		if len(es) == 0 {
			break
		}
		for i := range es {
			e := &es[i]
			if e.Kind != Peer || e.Origin == ps.self {
				continue // a legacy copy is no origin's
			}
			o := ps.origin(e.Origin)
			if !o.has(e.Seq) {
				o.note(e.Seq, e.Seq, e.Offset, e.Time.UnixNano())
			}
		}
		from = es[len(es)-1].Offset + 1
	}
	for _, o := range ps.origins {
		o.advance()
	}
	return nil
}

// origin returns what the log holds of id, creating it (called under ps.mu).
func (ps *peerSync) origin(id string) *originSync {
	o := ps.origins[id]
	if o == nil {
		o = &originSync{known: !ps.legacy}
		ps.origins[id] = o
	}
	return o
}

func (o *originSync) has(seq uint64) bool {
	if o.known && seq < o.next {
		return true
	}
	_, ok := o.extra[seq]
	return ok
}

// note records that the log holds seq (logged at off, published at t), extending next when it
// follows on.
func (o *originSync) note(seq, from, off uint64, t int64) {
	if o.known && from <= o.next && seq >= o.next {
		o.next = seq + 1
		o.nextTime = max(o.nextTime, t)
		// advance sorts the extra entries: per live copy only while they are few (a catch-up
		// round advances over any number of them; has is right either way).
		if n := len(o.extra); n > 0 && n <= 64 {
			o.advance()
		}
		return
	}
	if o.extra == nil {
		o.extra = map[uint64]extraEntry{}
	}
	o.extra[seq] = extraEntry{from: from, off: off, t: t}
}

// reopened forgets what the log holds of the origin from base on when opened is a later
// opening of its log than any met so far; it reports whether opened was new.
func (o *originSync) reopened(opened, base uint64) bool {
	if opened <= o.opened {
		return false
	}
	first := o.opened == 0
	o.opened = opened
	if first {
		return true // the first opening met: what this log holds is from it or earlier ones
	}
	if o.known && o.next > base {
		o.next = base
	}
	o.relay = nil // relays were read from where the higher next needed: read again
	for seq := range o.extra {
		if seq >= base {
			delete(o.extra, seq)
		}
	}
	return true
}

// advance drops extra entries below next and extends next over those that follow on.
func (o *originSync) advance() {
	if len(o.extra) == 0 {
		return
	}
	seqs := make([]uint64, 0, len(o.extra))
	for s := range o.extra {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		x := o.extra[s]
		switch {
		case !o.known:
			return
		case s < o.next:
			delete(o.extra, s)
		case x.from <= o.next:
			o.next = s + 1
			o.nextTime = max(o.nextTime, x.t)
			delete(o.extra, s)
		default:
			return // a later entry's From is beyond this one's Seq: none follows on either
		}
	}
}

// appendFrom logs the entries of origin's batch that the log does not hold and returns what
// to wait for until they (and those it already held) are durable. Called under ps.mu.
func (ps *peerSync) appendFrom(origin string, in []PeerEntry, live bool) (waiter, error) {
	o := ps.origin(origin)
	es := make([]Entry, 0, len(in))
	var seen map[uint64]bool // a batch that names a message twice logs it once
	if len(in) > 1 {
		seen = make(map[uint64]bool, len(in))
	}
	for i := range in {
		p := &in[i]
		if live && o.reopened(p.Opened, p.Base) {
			ps.changed = true
		}
		if o.has(p.Seq) || seen[p.Seq] {
			o.dups++
			continue
		}
		if seen != nil {
			seen[p.Seq] = true
		}
		// From rides along for note below; Append keeps a Peer entry's origin and sequence.
		es = append(es, Entry{Kind: Peer, Origin: origin, Seq: p.Seq, From: p.From, Time: p.Time, Topic: p.Topic, Payload: p.Payload})
	}
	if len(es) == 0 {
		// Held already, perhaps by an append that is not durable yet: wait for everything
		// logged so far, so that an answer after this never claims a copy before its fsync.
		return ps.l.barrier(), nil
	}
	first, c, err := ps.l.Append(es...)
	if err != nil {
		return nil, err
	}
	for j := range es {
		from := es[j].Seq
		if live {
			from = es[j].From
		}
		o.note(es[j].Seq, from, first+uint64(j), es[j].Time.UnixNano())
	}
	if live {
		o.live += uint64(len(es))
	} else {
		o.caught += uint64(len(es))
	}
	ps.changed = true
	return c, nil
}

// waiter is a group commit, or a barrier.
type waiter interface {
	Wait() error
	Done() bool
}

// fromFor is the offset of origin's log a catch-up asks from (MaxUint64: its end, for a
// legacy log's first contact).
func (ps *peerSync) fromFor(origin string) uint64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	o := ps.origin(origin)
	if !o.known {
		return math.MaxUint64
	}
	return o.next
}

// applyCatchUp logs what b brings that the log lacks and moves next to b.Next: b holds every
// Local entry of the origin in [from, b.Next). It reports whether the origin has more.
func (ps *peerSync) applyCatchUp(origin string, from uint64, b *PeerBatch) (waiter, bool, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	o := ps.origin(origin)
	if o.reopened(b.Opened, b.Base) {
		ps.changed = true
	}
	if o.known && from > o.next {
		// The origin reopened its log below what this was asked from: log what it sent (all
		// of its current opening) but ask again from the lowered next.
		w, err := ps.appendFrom(origin, b.Entries, false)
		return w, true, err
	}
	if o.known && from < b.First && from < b.Next {
		o.lost += min(b.First, b.Next) - from // the origin's retention dropped them first
	}
	w, err := ps.appendFrom(origin, b.Entries, false)
	if err != nil {
		o.lastErr = err.Error()
		return nil, false, err
	}
	if !o.known {
		o.known = true
		o.next = b.Next
	}
	if b.Next > o.next {
		o.next = b.Next
		ps.changed = true
		for i := range b.Entries { // all below b.Next
			o.nextTime = max(o.nextTime, b.Entries[i].Time.UnixNano())
		}
	}
	o.advance()
	o.end, o.lastErr = b.End, ""
	return w, b.Next < b.End && b.Next > from && from != math.MaxUint64, nil
}

func (ps *peerSync) fail(origin string, err error) {
	ps.mu.Lock()
	ps.origin(origin).lastErr = time.Now().UTC().Format(time.RFC3339) + ": " + err.Error()
	ps.mu.Unlock()
}

// snapshot is the state to save: it describes the log up to its current end. Call save once
// that end is durable.
func (ps *peerSync) snapshot() (peerSyncState, uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	end := ps.l.Next()
	st := peerSyncState{Epoch: ps.epoch, Legacy: ps.legacy, LogNext: end, Origins: map[string]uint64{}}
	for id, o := range ps.origins {
		if o.known {
			st.Origins[id] = o.next
		}
		if o.opened != 0 {
			if st.Opened == nil {
				st.Opened = map[string]uint64{}
			}
			st.Opened[id] = o.opened
		}
		if o.nextTime != 0 {
			if st.Times == nil {
				st.Times = map[string]int64{}
			}
			st.Times[id] = o.nextTime
		}
		for _, x := range o.extra {
			st.LogNext = min(st.LogNext, x.off) // scanned again at start-up to find it
		}
	}
	ps.changed = false
	return st, end
}

// save stores the state once the log is durable up to where it describes.
func (ps *peerSync) save(ctx context.Context) error {
	ps.mu.Lock()
	changed := ps.changed
	ps.mu.Unlock()
	if !changed {
		return nil
	}
	st, end := ps.snapshot()
	if end > 0 {
		if err := ps.l.Wait(ctx, end-1); err != nil {
			ps.mu.Lock()
			ps.changed = true
			ps.mu.Unlock()
			return fmt.Errorf("save peer catch-up state: %w", err)
		}
	}
	return saveState(ps.db, ps.key, st)
}

// info describes each origin for status and metrics.
func (ps *peerSync) info() []TargetInfo {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]TargetInfo, 0, len(ps.origins))
	for id, o := range ps.origins {
		t := TargetInfo{Target: "peer:" + id, Cursor: o.next, Shipped: o.caught, Live: o.live,
			Duplicates: o.dups, Lost: o.lost, LastError: o.lastErr}
		if o.end > o.next {
			t.Backlog = o.end - o.next
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// barrier returns what completes once every entry appended so far is durable.
func (l *Log) barrier() waiter {
	return logBarrier{l, l.Next()}
}

type logBarrier struct {
	l   *Log
	end uint64
}

func (b logBarrier) Wait() error {
	if b.end == 0 {
		return nil
	}
	return b.l.Wait(context.Background(), b.end-1)
}

func (b logBarrier) Done() bool {
	if b.end == 0 {
		return true
	}
	b.l.rmu.RLock()
	defer b.l.rmu.RUnlock()
	return b.l.committed >= b.end
}

// localSince is this log's side of a peer catching up: its Local entries from offset from on
// (from its first retained one if from is older), at most maxEntries entries looked at.
func (l *Log) localSince(from uint64, maxEntries, maxBytes int) (PeerBatch, error) {
	first, end := l.Bounds()
	l.mu.Lock()
	lf := l.localFrom
	l.mu.Unlock()
	b := PeerBatch{Origin: l.o.Origin, First: first, Next: end, End: end, Opened: uint64(l.opened), Base: l.base}
	if from < first {
		from = first
	}
	if from >= end || from >= lf {
		return b, nil // no Local entry at or after from: lf was read after end (see Log.localFrom)
	}
	es, err := l.Read(from, maxEntries, maxBytes)
	if err != nil {
		return PeerBatch{}, err
	}
	for i := range es {
		e := &es[i]
		if e.Kind == Local {
			b.Entries = append(b.Entries, PeerEntry{Seq: e.Offset, Time: e.Time, Topic: e.Topic, Payload: e.Payload})
		}
	}
	if len(es) > 0 {
		b.Next = es[len(es)-1].Offset + 1
		b.End = max(b.End, b.Next)
	}
	return b, nil
}
