package replicate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/s3err"
)

// The read path (DESIGN.md "GET/HEAD"): read the version records of a key from R replicas,
// newest wins, take the data from a replica that has it, repair stale replicas in the
// background.
//
// Only as many replicas as the quorum needs are asked: this node's own replica when it is one
// (read locally, whole), and peers chosen at random among the live replicas (spreading the load).
// Another peer is asked when one fails, and when none has answered after a hedge delay (a slow
// or dead peer that gossip has not noticed yet). Peers answer with heads: the records without
// their inline data, enough to find the newest version and to tell a stale replica. The data
// of the winning version comes from this node's replica when it has that version, otherwise
// from one replica that has it (one more round trip). When this node is not a replica, the
// first peer asked answers with whole records, so that usually no second round trip is needed.
//
// During a layout transition a read needs a quorum of both the old and the new replica set
// (quorumCheck.readMet); peers are picked so that the answers can make both.

// answer is one replica's answer to a read.
type answer struct {
	node string
	msgs []object.RecordMsg
	cut  []bool // cut[i]: msgs[i] is a head whose inline data was left out
	err  error
}

// readResult is what a quorum of replicas answered for a key.
type readResult struct {
	bucket, key string
	// msgs holds the distinct records of all answers, whole ones first: object.Resolve picks the
	// first record of the winning version, so a whole copy wins over a head of it.
	msgs []object.RecordMsg
	cut  []bool
	from []string
	// have maps each answering node to the records it holds (by headFingerprint).
	have  map[string]map[fingerprint]bool
	index map[fingerprint]int // position in msgs (until order)
}

// headFingerprint identifies a record by its head: a version's data never changes, so two
// replicas hold the same record when their heads are equal (tags and purges change the head).
func headFingerprint(m object.RecordMsg) fingerprint {
	h, _ := object.HeadOf(m)
	return fingerprintOf(h)
}

// Hedge delay: a peer that has not answered after a few times the usual read latency is
// presumed slow or dead, and another replica is asked.
const (
	hedgeMin = 20 * time.Millisecond
	hedgeMax = 250 * time.Millisecond
)

// latencyMean is an exponentially weighted mean of peer read latencies, in nanoseconds (racing
// updates may lose one sample: it is only a hint for the hedge delay).
type latencyMean struct{ v atomic.Int64 }

func (l *latencyMean) observe(d time.Duration) {
	old := l.v.Load()
	if old == 0 {
		l.v.Store(int64(d))
		return
	}
	l.v.Store(old + (int64(d)-old)/16)
}

func (l *latencyMean) hedgeDelay() time.Duration {
	return min(max(4*time.Duration(l.v.Load()), hedgeMin), hedgeMax)
}

// helps reports whether an answer from n would count towards a read quorum not yet met (in
// either replica set, counting answers from replicas that are not bootstrapping apart).
func (c *quorumCheck) helps(n string) bool {
	safe := !c.booting(n)
	return slices.Contains(c.cur, n) && (c.okCur < c.needCur || safe && c.safeCur < c.needSafeCur) ||
		slices.Contains(c.prev, n) && (c.okPv < c.needPrev || safe && c.safePv < c.needSafePv)
}

// readKey reads bucket/key from a read quorum of its replicas. data says whether the caller
// will need the winning record's data (then a whole copy is asked for when this node has none).
func (s *Store) readKey(ctx context.Context, bucket, key string, data bool) (*readResult, error) {
	cur, prev := s.replicaSets(bucket, key)
	if res, ok := s.leasedRead(bucket, key, cur, prev); ok {
		return res, nil
	}
	reps := union(cur, prev)
	q := s.newQuorumCheck(cur, prev, s.o.R)
	self := s.self()
	selfRep := false
	var peers []string
	for _, n := range reps {
		if n == self {
			selfRep = true
		} else if s.o.Cluster.Alive(n) {
			peers = append(peers, n)
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })

	answers := make(chan answer, len(peers))
	launched := make([]bool, len(peers))
	inflight := 0
	wholeAsked := selfRep || !data // this node's own replica is read whole
	launch := func(i int) {
		launched[i] = true
		inflight++
		n, whole := peers[i], !wholeAsked
		wholeAsked = true
		// Not cancelled with the request: an answer still coming after the quorum is simply
		// dropped (answers has room for every peer's), whereas cancelling it would close its
		// connection (and the next request would pay for a new TLS handshake). Not tracked in
		// s.wg: the answer only lands in answers, and a peer cut off may never answer.
		start := time.Now()
		s.o.Client.headsAsync(context.WithoutCancel(ctx), s.o.Cluster.RPCAddr(n), bucket, key, whole, func(msgs []object.RecordMsg, cut []bool, err error) {
			if err == nil {
				s.readLatency.observe(time.Since(start))
			}
			answers <- answer{node: n, msgs: msgs, cut: cut, err: err}
		})
	}
	// launchNext asks the next peer, in the shuffled order, whose answer would count towards an
	// unmet quorum.
	launchNext := func(c *quorumCheck) bool {
		for i, n := range peers {
			if !launched[i] && c.helps(n) {
				launch(i)
				return true
			}
		}
		return false
	}

	// First round: the peers that make the quorum together with this node's replica.
	plan := *q
	if selfRep {
		plan.ok(self)
	}
	for i, n := range peers {
		if !plan.readMet() && plan.helps(n) {
			launch(i)
			plan.ok(n)
		}
	}

	res := &readResult{bucket: bucket, key: key, have: map[string]map[fingerprint]bool{}, index: map[fingerprint]int{}}
	var firstErr error
	take := func(a answer) {
		if a.err != nil {
			if firstErr == nil {
				firstErr = a.err
			}
			launchNext(q) // a replacement, if any replica is left
			return
		}
		q.ok(a.node)
		res.add(a)
	}
	if selfRep {
		s.wg.Add(1)
		msgs, cut, err := s.local.StoredRecords(bucket, key, true)
		s.wg.Done()
		take(answer{node: self, msgs: msgs, cut: cut, err: err})
	}
	hedge := time.NewTimer(s.readLatency.hedgeDelay())
	defer hedge.Stop()
	for !q.readMet() {
		if inflight == 0 && !launchNext(q) {
			return nil, s3err.ServiceUnavailable.With("Only %d replicas answered, %d needed (%v).", len(res.from), q.needCur, firstErr)
		}
		select {
		case a := <-answers:
			inflight--
			take(a)
		case <-hedge.C:
			launchNext(q)
			hedge.Reset(s.readLatency.hedgeDelay())
		case <-ctx.Done():
			return nil, fmt.Errorf("read %s/%s: %w", bucket, key, ctx.Err())
		}
	}
	res.order()
	if len(res.from) > 1 {
		s.repair(res)
	}
	return res, nil
}

// leasedRead answers a read from this node's replica alone when it holds a read lease on the
// key's partition (lease.go): every write acknowledged before now is on this replica.
func (s *Store) leasedRead(bucket, key string, cur, prev []string) (*readResult, bool) {
	if !s.o.ReadLeases || s.o.Cluster == nil || prev != nil || !slices.Contains(cur, s.self()) || s.Bootstrapping() {
		return nil, false
	}
	if !s.leases.serves(placement.Partition(bucket, key), s.layout.gen.Load(), time.Now()) {
		return nil, false
	}
	s.wg.Add(1)
	msgs, cut, err := s.local.StoredRecords(bucket, key, true)
	s.wg.Done()
	if err != nil {
		return nil, false // the quorum read reports it, or reads around it
	}
	res := &readResult{bucket: bucket, key: key, have: map[string]map[fingerprint]bool{}, index: map[fingerprint]int{}}
	res.add(answer{node: s.self(), msgs: msgs, cut: cut})
	res.order()
	s.Stats.LeaseReads.Add(1)
	return res, true
}

// add records one replica's answer. Each distinct record is kept once (a whole copy rather than
// a head), so that resolving a key whose replicas agree decodes one record, not R.
func (r *readResult) add(a answer) {
	r.from = append(r.from, a.node)
	set := make(map[fingerprint]bool, len(a.msgs))
	for i, m := range a.msgs {
		f := headFingerprint(m)
		set[f] = true
		if j, ok := r.index[f]; ok {
			if r.cut[j] && !a.cut[i] {
				r.msgs[j], r.cut[j] = m, false
			}
			continue
		}
		r.index[f] = len(r.msgs)
		r.msgs = append(r.msgs, m)
		r.cut = append(r.cut, a.cut[i])
	}
	r.have[a.node] = set
}

// order puts whole records before heads (stable otherwise).
func (r *readResult) order() {
	var msgs []object.RecordMsg
	var cut []bool
	for _, wantCut := range []bool{false, true} {
		for i := range r.msgs {
			if r.cut[i] == wantCut {
				msgs = append(msgs, r.msgs[i])
				cut = append(cut, wantCut)
			}
		}
	}
	r.msgs, r.cut = msgs, cut
}

// whole returns the whole record of m (one of r.msgs): m itself, a whole copy among the answers,
// or the record read from a replica that holds it.
func (s *Store) whole(ctx context.Context, r *readResult, m object.RecordMsg) (object.RecordMsg, error) {
	f := headFingerprint(m)
	for i, o := range r.msgs {
		if !r.cut[i] && o.Version == m.Version && headFingerprint(o) == f {
			return o, nil
		}
	}
	lastErr := errRecordGone
	for _, n := range r.from {
		if !r.have[n][f] {
			continue
		}
		var got object.RecordMsg
		var err error
		if n == s.self() {
			got, err = s.local.KeyRecord(r.bucket, r.key, m.Version)
		} else {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			got, err = s.o.Client.Record(cctx, s.o.Cluster.RPCAddr(n), m)
			cancel()
		}
		if err == nil && headFingerprint(got) != f || errors.Is(err, object.ErrNoRecord) {
			continue // replaced since it answered (a newer write, a purge, new tags)
		}
		if err == nil {
			return got, nil
		}
		lastErr = err
	}
	if lastErr == errRecordGone {
		return object.RecordMsg{}, errRecordGone
	}
	return object.RecordMsg{}, s3err.ServiceUnavailable.With("No replica could send the data of %s/%s (%v).", r.bucket, r.key, lastErr)
}

// errRecordGone: every replica that answered with a record no longer has it by the time its
// data is asked for: a newer write replaced it in between. The read starts over.
var errRecordGone = errors.New("the record was replaced while being read")

// readAttempts bounds how often a read starts over because the record it chose was replaced
// while its data was being fetched (a key overwritten continuously).
const readAttempts = 5

// read returns the whole records of bucket/key from a read quorum, each distinct record once,
// and the nodes that answered.
func (s *Store) read(ctx context.Context, bucket, key string) (msgs []object.RecordMsg, from []string, err error) {
	for attempt := 0; attempt < readAttempts; attempt++ {
		if msgs, from, err = s.readWhole(ctx, bucket, key); !errors.Is(err, errRecordGone) {
			return msgs, from, err
		}
	}
	return nil, nil, s3err.ServiceUnavailable.With("%s/%s changed %d times while being read.", bucket, key, readAttempts)
}

func (s *Store) readWhole(ctx context.Context, bucket, key string) ([]object.RecordMsg, []string, error) {
	r, err := s.readKey(ctx, bucket, key, true)
	if err != nil {
		return nil, nil, err
	}
	seen := map[fingerprint]bool{}
	var out []object.RecordMsg
	for i, m := range r.msgs {
		f := headFingerprint(m)
		if seen[f] {
			continue
		}
		seen[f] = true
		if r.cut[i] {
			if m, err = s.whole(ctx, r, m); err != nil {
				return nil, nil, err
			}
		}
		out = append(out, m)
	}
	return out, r.from, nil
}

// readHeads returns the records of bucket/key from a read quorum, some of them heads: for
// deciding (conditions, deletes), never for data.
func (s *Store) readHeads(ctx context.Context, bucket, key string) ([]object.RecordMsg, error) {
	r, err := s.readKey(ctx, bucket, key, false)
	if err != nil {
		return nil, err
	}
	return r.msgs, nil
}

// resolveHead applies GET/HEAD semantics to what a read quorum holds; the chosen record may be
// a head (for HEAD, tags and parts, which need no data).
func (s *Store) resolveHead(ctx context.Context, bucket, key, versionID string) (*object.RecordMsg, object.ObjectInfo, *readResult, error) {
	return s.resolveRead(ctx, bucket, key, versionID, false)
}

func (s *Store) resolveRead(ctx context.Context, bucket, key, versionID string, data bool) (*object.RecordMsg, object.ObjectInfo, *readResult, error) {
	if err := s.layoutReady(ctx); err != nil {
		return nil, object.ObjectInfo{}, nil, err
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return nil, object.ObjectInfo{}, nil, err
	}
	r, err := s.readKey(ctx, bucket, key, data)
	if err != nil {
		return nil, object.ObjectInfo{}, nil, err
	}
	m, info, err := object.Resolve(bucket, key, versionID, r.msgs)
	return m, info, r, err
}

// resolve is resolveHead with the chosen record whole (for GET and copies).
func (s *Store) resolve(ctx context.Context, bucket, key, versionID string) (*object.RecordMsg, object.ObjectInfo, []string, error) {
	for attempt := 0; attempt < readAttempts; attempt++ {
		m, info, r, err := s.resolveRead(ctx, bucket, key, versionID, true)
		if err != nil {
			return m, info, nil, err
		}
		w, err := s.whole(ctx, r, *m)
		if errors.Is(err, errRecordGone) {
			continue
		}
		if err != nil {
			return nil, info, nil, err
		}
		return &w, info, r.from, nil
	}
	return nil, object.ObjectInfo{}, nil, s3err.ServiceUnavailable.With("%s/%s changed %d times while being read.", bucket, key, readAttempts)
}

// repair pushes to each answering replica the records of the merged state it lacks, in the
// background.
func (s *Store) repair(r *readResult) {
	all := map[fingerprint]bool{}
	for _, set := range r.have {
		for f := range set {
			all[f] = true
		}
	}
	stale := false
	for _, set := range r.have {
		if len(set) != len(all) {
			stale = true
		}
	}
	if !stale {
		return
	}
	winners, err := object.MergeVersions(r.msgs)
	if err != nil {
		s.log.Debug("read repair: merge", "key", r.key, "err", err)
		return
	}
	for node, set := range r.have {
		var missing []object.RecordMsg
		for _, w := range winners {
			if !set[headFingerprint(w)] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for _, h := range missing {
				m, err := s.whole(s.ctx, r, h)
				if err == nil {
					err = s.writeOne(s.ctx, node, m)
				}
				if err != nil {
					s.log.Debug("read repair", "node", node, "key", h.Key, "err", err)
					return
				}
				s.Stats.ReadRepairs.Add(1)
			}
		}()
	}
}
