package object

import (
	"context"
	"sync"
	"time"
)

// collector removes chunk files that no version or part references any more. A chunk is removed
// only when (under mu) no PUT in flight holds it and the metastore has no reference to it; a PUT
// holds its chunks from before it writes them until its references are committed, so a removal
// can never pull a chunk from under a new reference. Removal waits a grace period so that GETs
// already streaming an overwritten version can finish.
type collector struct {
	s       *Store
	mu      sync.Mutex
	pending map[string]int
	queue   []gcItem
	grace   time.Duration
	cancel  context.CancelFunc
	done    chan struct{}
}

type gcItem struct {
	id  string
	due time.Time
}

func newCollector(s *Store) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{s: s, pending: map[string]int{}, grace: 30 * time.Second, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

func (c *collector) stop() {
	c.cancel()
	<-c.done
}

// hold marks chunk ids as in use by a write that has not committed yet.
func (c *collector) hold(id string) {
	c.mu.Lock()
	c.pending[id]++
	c.mu.Unlock()
}

func (c *collector) release(ids []string) {
	c.mu.Lock()
	for _, id := range ids {
		if c.pending[id]--; c.pending[id] <= 0 {
			delete(c.pending, id)
		}
	}
	c.mu.Unlock()
}

// maybeRemove queues ids whose last reference may just have gone.
func (c *collector) maybeRemove(ids []string) {
	if len(ids) == 0 {
		return
	}
	due := time.Now().Add(c.grace)
	c.mu.Lock()
	for _, id := range ids {
		c.queue = append(c.queue, gcItem{id: id, due: due})
	}
	c.mu.Unlock()
}

func (c *collector) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.sweep(now)
		}
	}
}

func (c *collector) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(c.queue) && !c.queue[n].due.After(now) {
		c.removeIfUnused(c.queue[n].id)
		n++
	}
	c.queue = append(c.queue[:0], c.queue[n:]...)
}

// removeIfUnused must be called with mu held.
func (c *collector) removeIfUnused(id string) {
	if c.pending[id] > 0 {
		return
	}
	used := false
	if err := c.s.scan(refPrefix(id), func(k, v []byte) (bool, error) { used = true; return false, nil }); err != nil {
		c.s.log.Warn("chunk gc: scan refs", "chunk", id, "err", err)
		return
	}
	if used {
		return
	}
	if err := c.s.blobs.Remove(id); err != nil {
		c.s.log.Warn("chunk gc: remove", "chunk", id, "err", err)
	}
}

// sweepOrphans removes chunk files with no reference, left by a crash between writing chunks and
// committing the version that would have referenced them. Run at start-up, before writes begin.
func (s *Store) sweepOrphans() (int, error) {
	removed := 0
	err := s.blobs.Walk(func(id string) error {
		used := false
		if err := s.scan(refPrefix(id), func(k, v []byte) (bool, error) { used = true; return false, nil }); err != nil {
			return err
		}
		if !used {
			removed++
			return s.blobs.Remove(id)
		}
		return nil
	})
	return removed, err
}
