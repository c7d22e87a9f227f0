package replicate

import (
	"context"
	"sort"
	"sync"
	"time"
)

// The holder's side of read leases (lease.go) over time: renewing grants every D/4, checking
// the records each grant lists, and syncing partitions whose chain of grants just began.

// StartLeases runs the lease loop until Close (Start calls it; a simulated site without the
// other background loops calls it alone). It does nothing without ReadLeases or a Cluster.
func (s *Store) StartLeases() {
	if !s.o.ReadLeases || s.o.Cluster == nil {
		return
	}
	s.wg.Add(1)
	go s.leaseLoop()
}

func (s *Store) leaseLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.LeaseDuration / 4)
	defer t.Stop()
	for {
		s.LeaseRoundNow(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// LeaseRoundNow asks every node this one shares partitions with for a grant, checks what the
// answers list, and starts the syncs new chains need (in the background: renewals must not wait
// for them).
func (s *Store) LeaseRoundNow(ctx context.Context) {
	if !s.o.ReadLeases || s.o.Cluster == nil || !s.layoutKnown() {
		return
	}
	ll := s.currentLeaseLayout()
	if gen, key := s.leases.layout(); gen != ll.gen || key != ll.key {
		s.leases.reset(ll.gen, ll.key, ll.others)
	}
	if ll.key == 0 {
		return // a transition runs: reads ask R replicas
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.LeaseDuration/2)
	defer cancel()
	var wg sync.WaitGroup
	for peer, parts := range ll.shares {
		if !s.o.Cluster.Alive(peer) {
			continue // its grants run out: reads of the partitions it holds ask R replicas
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.renewFrom(ctx, ll.gen, peer, parts)
		}()
	}
	wg.Wait()
	s.startLeaseSyncs()
}

// renewFrom asks peer for a grant and records it once the records it lists are held here.
func (s *Store) renewFrom(ctx context.Context, gen uint64, peer string, parts partSet) {
	addr := s.o.Cluster.RPCAddr(peer)
	send := time.Now()
	resp, err := s.o.Client.Lease(ctx, addr, s.self(), s.leases.request(peer))
	if err != nil || !resp.granted {
		if err != nil {
			s.log.Debug("lease: grant request", "peer", peer, "err", err)
		}
		return // the chain runs out at its validity's end, unless a later request succeeds
	}
	if !resp.fresh && !s.o.BrokenNoLeaseCheck {
		if err := s.checkEntries(ctx, addr, resp.entries); err != nil {
			s.log.Debug("lease: grant not kept", "peer", peer, "err", err)
			s.Stats.LeaseLapses.Add(1)
			s.leases.broken(peer)
			return
		}
	}
	s.leases.renewed(gen, peer, parts, resp, send, time.Now())
}

// startLeaseSyncs syncs, in the background, every partition whose chain of grants began since
// its last sync with that grantor: anti-entropy's sync (syncPeer) with each grantor concerned.
func (s *Store) startLeaseSyncs() {
	need := s.leases.needSync(time.Now())
	if len(need) == 0 || !s.leaseSync.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.leaseSync.Store(false)
		peers := make([]string, 0, len(need))
		for p := range need {
			peers = append(peers, p)
		}
		sort.Strings(peers)
		for _, peer := range peers {
			if s.ctx.Err() != nil {
				return
			}
			if s.o.BrokenNoLeaseSync {
				s.leases.synced(peer, need[peer], s.leases.epochOf(peer))
				continue
			}
			s.syncPeer(s.ctx, peer, need[peer])
		}
	}()
}
