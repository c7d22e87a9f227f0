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
			s.kickOutboxes()
		}
		s.antiEntropyRound(s.ctx)
	}
}
