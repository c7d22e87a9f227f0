package replicate

import (
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
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

// deliverHints hands every target its hints. The hint loop and a kick (a peer came back) both
// call it; a target whose hints are being delivered already is skipped, so the same hints are
// not read and sent twice at once.
func (s *Store) deliverHints() {
	targets, err := s.local.HintTargets()
	if err != nil {
		s.log.Warn("list hints", "err", err)
		return
	}
	for target := range targets {
		if isOutbox(target) {
			continue // shipped by feed.go's shippers
		}
		if _, busy := s.delivering.LoadOrStore(target, true); busy {
			continue
		}
		s.deliverTarget(target)
		s.delivering.Delete(target)
	}
}

// deliverTarget hands a target's hints over until none is left or one fails (then it waits for
// the next round: the target is probably down again).
func (s *Store) deliverTarget(target string) {
	var deliver func(m object.RecordMsg) error
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
	} else {
		s.deliverToNode(target)
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
			if strings.HasPrefix(target, sitePrefix) {
				s.Stats.Shipped.Add(1)
			}
		}
	}
}

// hintsPerRound is how many hints of one node target are read and delivered at a time
// (batchInFlight batches of batchRecords).
const hintsPerRound = batchInFlight * batchRecords

// deliverToNode hands a site node its hints in batches (pushRecords), dropping those it took,
// until none is left or a round delivers nothing (the target is probably down again).
func (s *Store) deliverToNode(target string) {
	for s.ctx.Err() == nil {
		hints, err := s.local.Hints(target, hintsPerRound)
		if err != nil || len(hints) == 0 {
			return
		}
		msgs := make([]object.RecordMsg, len(hints))
		for i, h := range hints {
			msgs[i] = h.Msg
		}
		errs := s.pushRecords(s.ctx, target, msgs)
		var done []object.Hint
		var firstErr error
		for i, err := range errs {
			if err == nil {
				done = append(done, hints[i])
			} else if firstErr == nil {
				firstErr = err
			}
		}
		if err := s.local.DropHints(done); err != nil {
			s.log.Warn("drop delivered hints", "err", err)
			return
		}
		s.Stats.HintsDelivered.Add(int64(len(done)))
		if firstErr != nil {
			s.log.Debug("hint delivery failed; will retry", "target", target, "delivered", len(done), "err", firstErr)
			return
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
			s.kickOutboxes()
		}
		s.antiEntropyRound(s.ctx)
	}
}
