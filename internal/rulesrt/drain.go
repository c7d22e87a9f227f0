package rulesrt

import (
	"context"
	"sync"
	"time"
)

// A node may hold undelivered webhook or object results of a rule it no longer runs: another
// node of the site took the rule over while this one was down, or the rule was stopped. The
// results are in this node's outbox only, so this node delivers them: the rule's senders run
// alone until its outboxes are empty (checked every second).

// drainHandle stops a drain.
type drainHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// drainLocked starts delivering a rule's outboxes if it does not run here and they hold
// anything. rt.mu is held.
func (rt *Runtime) drainLocked(rs *ruleState) {
	rs.mu.Lock()
	busy := rs.run != nil || rs.drain != nil
	rs.mu.Unlock()
	if busy {
		return
	}
	var senders []runner
	var states []*actionState
	for i, a := range rs.spec.Actions {
		if a.REST == nil && a.Object == nil {
			continue
		}
		ob, err := openOutbox(rt.o.DB, rs.name, i)
		if err != nil || ob.count == 0 {
			continue
		}
		st := rs.actions[i]
		st.pending.Store(ob.count)
		if a.REST != nil {
			senders = append(senders, rt.newSender(rs.name, a.REST, ob, st))
		} else {
			senders = append(senders, rt.newObjectSender(rs.name, a.Object, ob, st))
		}
		states = append(states, st)
	}
	if len(senders) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(rt.ctx)
	h := &drainHandle{cancel: cancel, done: make(chan struct{})}
	rs.mu.Lock()
	rs.drain = h
	rs.mu.Unlock()
	rt.log.Info("delivering the undelivered results of a rule this node does not run", "rule", rs.name)
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			empty := true
			for _, st := range states {
				empty = empty && st.pending.Load() <= 0
			}
			if empty {
				cancel()
				return
			}
		}
	}()
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		wg.Wait()
		cancel()
		rs.mu.Lock()
		if rs.drain == h {
			rs.drain = nil
		}
		rs.mu.Unlock()
		close(h.done)
	}()
}

// stopDrain ends a drain, if any, and waits for it.
func (rs *ruleState) stopDrain() {
	rs.mu.Lock()
	h := rs.drain
	rs.drain = nil
	rs.mu.Unlock()
	if h != nil {
		h.cancel()
		<-h.done
	}
}
