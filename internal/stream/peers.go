package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/mqtt"
)

// The site side of the manager (peersync.go has the logic): the node's journal hands the
// manager its peers' live copies (AppendPeer), serves their catch-up (LocalSince), and catches
// up from them (CatchUp); the RPC that carries these is the node's (internal/node).

// AppendPeer logs the live copies origin (another node of this site) sent of messages it
// logged, those this node does not hold yet, and returns what completes once they are all
// durable here. Entries of streams this node has not opened are skipped: catch-up brings them
// once it has.
func (m *Manager) AppendPeer(origin string, es []PeerEntry) (mqtt.Pending, error) {
	if origin == "" || origin == m.o.NodeID {
		return nil, fmt.Errorf("peer copies from origin %q: not another node", origin)
	}
	var ws waiters
	for len(es) > 0 {
		// One call per run of entries of one stream (a batch is nearly always one run).
		n := 1
		for n < len(es) && es[n].Stream == es[0].Stream {
			n++
		}
		run := es[:n]
		es = es[n:]
		s := m.streamOf(run[0].Stream)
		if s == nil {
			continue
		}
		s.ps.mu.Lock()
		w, err := s.ps.appendFrom(origin, run, true)
		s.ps.mu.Unlock()
		if errors.Is(err, ErrClosed) {
			continue // deleted meanwhile (or the node is closing)
		}
		if err != nil {
			return nil, fmt.Errorf("log peer copies in stream %s: %w", s.name, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// waiters completes when each of its waiters has.
type waiters []waiter

func (ws waiters) Wait() error {
	var err error
	for _, w := range ws {
		if werr := w.Wait(); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func (ws waiters) Done() bool {
	for _, w := range ws {
		if !w.Done() {
			return false
		}
	}
	return true
}

// LocalSince is what this node answers a peer catching up on stream name: its Local entries
// from offset from of its log on, a page at a time (PeerBatch.Next says where the next begins).
func (m *Manager) LocalSince(name string, from uint64) (PeerBatch, error) {
	l, err := m.logOf(name)
	if err != nil {
		return PeerBatch{}, err
	}
	b, err := l.localSince(from, catchUpMax, catchUpBytes)
	if err != nil {
		return PeerBatch{}, fmt.Errorf("read stream %s for a peer: %w", name, err)
	}
	for i := range b.Entries {
		b.Entries[i].Stream = name
	}
	return b, nil
}

// Fetch asks origin for its Local entries of stream from offset from on (its LocalSince). An
// error wrapping ErrNotFound means origin has no such stream (yet).
type Fetch func(ctx context.Context, stream string, from uint64) (PeerBatch, error)

// CatchUp brings every stream's log up to date with origin's Local entries: it asks origin for
// what follows what this node holds, page by page, and logs what it lacks, until origin has no
// more or ctx ends.
func (m *Manager) CatchUp(ctx context.Context, origin string, fetch Fetch) error {
	var errs []error
	for _, s := range m.openStreams() {
		if err := s.ps.catchUp(ctx, s.name, origin, fetch); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("stream %s from %s: %w", s.name, origin, err))
		}
	}
	return errors.Join(errs...)
}

func (ps *peerSync) catchUp(ctx context.Context, name, origin string, fetch Fetch) error {
	for ctx.Err() == nil {
		from := ps.fromFor(origin)
		b, err := fetch(ctx, name, from)
		if errors.Is(err, ErrNotFound) {
			return nil // not open there yet: nothing entered by it
		}
		if err == nil && b.Origin != origin {
			err = fmt.Errorf("asked %s, %q answered", origin, b.Origin)
		}
		if err != nil {
			ps.fail(origin, err)
			return err
		}
		w, more, err := ps.applyCatchUp(origin, from, &b)
		if err == nil {
			err = w.Wait()
		}
		if err != nil {
			ps.fail(origin, err)
			return err
		}
		if !more {
			return nil
		}
	}
	return ctx.Err()
}

// openStreams returns the streams open now.
func (m *Manager) openStreams() []*openStream {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*openStream, 0, len(m.streams))
	for _, s := range m.streams {
		out = append(out, s)
	}
	return out
}

func (m *Manager) streamOf(name string) *openStream {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams[name]
}

// runPeerSyncSaver saves what each log holds of its peers every peerSyncSaveEvery until the
// manager closes (Close saves the last state itself).
func (m *Manager) runPeerSyncSaver() {
	defer m.wg.Done()
	t := time.NewTicker(peerSyncSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range m.openStreams() {
			if err := s.ps.save(m.ctx); err != nil && m.ctx.Err() == nil {
				m.log.Warn("save stream catch-up state", "stream", s.name, "err", err)
			}
		}
	}
}
