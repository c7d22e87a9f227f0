package replicate

import (
	"context"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// hintLoop hands stored hints to their targets once gossip sees them alive.
func (s *Store) hintLoop() {
	defer s.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.deliverHints()
	}
}

func (s *Store) deliverHints() {
	targets, err := s.local.HintTargets()
	if err != nil {
		s.log.Warn("list hints", "err", err)
		return
	}
	for target := range targets {
		s.deliverTarget(target)
	}
}

// deliverTarget hands a target's hints over until none is left or one fails (then it waits for
// the next round: the target is probably down again).
func (s *Store) deliverTarget(target string) {
	deliver := func(m object.RecordMsg) error { return s.writeOne(s.ctx, target, m) }
	site := strings.HasPrefix(target, sitePrefix) || strings.HasPrefix(target, cloudPrefix)
	if strings.HasPrefix(target, cloudPrefix) {
		d, ok := s.cloudDeliverer(target)
		if !ok {
			return
		}
		deliver = d
	} else if strings.HasPrefix(target, sitePrefix) {
		if s.o.Cluster == nil {
			return
		}
		n, ok := s.siteTarget(target)
		if !ok {
			return
		}
		deliver = func(m object.RecordMsg) error { return s.shipToSite(s.ctx, n, m) }
	} else if s.o.Cluster == nil || !s.o.Cluster.Alive(target) {
		return
	}
	for s.ctx.Err() == nil {
		hints, err := s.local.Hints(target, 256)
		if err != nil || len(hints) == 0 {
			return
		}
		for _, h := range hints {
			if err := deliver(h.Msg); err != nil {
				s.log.Debug("hint delivery failed; will retry", "target", target, "err", err)
				return
			}
			if err := s.local.DropHint(h); err != nil {
				s.log.Warn("drop delivered hint", "err", err)
				return
			}
			if site {
				if strings.HasPrefix(target, sitePrefix) {
					s.Stats.Shipped.Add(1)
				}
			} else {
				s.Stats.HintsDelivered.Add(1)
			}
		}
	}
}

// PendingHints counts hints not yet delivered, per target node.
func (s *Store) PendingHints() map[string]int {
	m, _ := s.local.HintTargets()
	return m
}

func (s *Store) antiEntropyLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.AntiEntropyEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			s.deliverHints()
		}
		s.antiEntropyRound(s.ctx)
	}
}

// sharedPartitions returns, for each live peer of the site, the partitions both it and this
// node replicate.
func (s *Store) sharedPartitions() map[string][]int {
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	out := map[string][]int{}
	for p := 0; p < placement.Partitions; p++ {
		reps := placement.Replicas(p, nodes, s.o.RF)
		mine := false
		for _, n := range reps {
			if n == s.self() {
				mine = true
			}
		}
		if !mine {
			continue
		}
		for _, n := range reps {
			if n != s.self() && s.o.Cluster.Alive(n) {
				out[n] = append(out[n], p)
			}
		}
	}
	return out
}

// antiEntropyRound compares partition digests with every live peer and pushes what they lack.
func (s *Store) antiEntropyRound(ctx context.Context) {
	s.Stats.AERounds.Add(1)
	// Notice a layout change before taking the round's start time: endTransition only trusts a
	// round that began after the change, so a change noticed here must not date the round
	// (otherwise the round a membership change kicks can never end the transition it starts, and
	// under steady load the next all-in-sync round may never come).
	s.sets()
	started := time.Now()
	shared := s.sharedPartitions()
	want := map[int]bool{}
	for _, ps := range shared {
		for _, p := range ps {
			want[p] = true
		}
	}
	mine, err := localDigests(ctx, s.local, want)
	if err != nil {
		s.log.Warn("anti-entropy: digests", "err", err)
		return
	}
	compared, equal := 0, 0
	peers := make([]string, 0, len(shared))
	for n := range shared {
		peers = append(peers, n)
	}
	sort.Strings(peers)
	for _, peer := range peers {
		addr := s.o.Cluster.RPCAddr(peer)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		theirs, err := s.o.Client.Digests(cctx, addr, shared[peer])
		cancel()
		if err != nil {
			s.log.Debug("anti-entropy: peer digests", "peer", peer, "err", err)
			continue
		}
		for _, p := range shared[peer] {
			compared++
			d := mine[p]
			my := ""
			if d != (fingerprint{}) {
				my = hex.EncodeToString(d[:])
			}
			if theirs[itoa(p)] == my {
				equal++
				continue
			}
			if my == "" {
				continue // nothing here to push; the peer pushes its records in its own round
			}
			s.syncPartition(ctx, peer, addr, p)
		}
	}
	s.Stats.AEPartitions.Store(int64(compared))
	s.Stats.AEPartitionsOK.Store(int64(equal))
	if compared == equal {
		s.Stats.AELastSync.Store(time.Now().UnixNano())
		s.endTransition(started)
	}
}

// syncPartition pushes to peer every record of partition p that it lacks.
func (s *Store) syncPartition(ctx context.Context, peer, addr string, p int) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	theirs, err := s.o.Client.PartitionFingerprints(cctx, addr, p)
	cancel()
	if err != nil {
		return
	}
	var push []object.RecordMsg
	s.local.ScanRecords(ctx, func(m object.RecordMsg) error {
		if placement.Partition(m.Bucket, m.Key) == p {
			f := fingerprintOf(m)
			if !theirs[hex.EncodeToString(f[:])] {
				push = append(push, m)
			}
		}
		return nil
	})
	for _, m := range push {
		if err := s.writeOne(ctx, peer, m); err != nil {
			s.log.Debug("anti-entropy push", "peer", peer, "key", m.Key, "err", err)
			return
		}
		s.Stats.AEPushed.Add(1)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b[i:])
}
