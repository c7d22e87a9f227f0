package stream

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Relayed catch-up. A node catches up from the node a message entered by (peersync.go); while
// that origin is down, what it logged is still in the logs of the nodes that had its live
// copies (W-1 of them for an acknowledged message), so a node also asks the live ones for
// their copies of the down origin's entries that it lacks. A node's copies of an origin are not
// in the origin's order in its log (a catch-up appends old ones late), so it cannot answer "from
// sequence N on" by position; it answers by time: every entry of the origin at or after the
// asker's next was published at or after the asker's nextTime, and was logged by the relaying
// node no earlier than that (less clock skew between the two: relaySkew), so the relay reads
// its log from there. Once the asker has looked at the relay's log to its end, it holds every
// entry of the origin the relay holds below Held, and moves next up to it. Later rounds read
// on from where the last stopped: only what the relay logged since.

// relaySkew is how far apart the clocks of a site's nodes may be for a relay to find every
// copy: the relay reads its log from this long before the asker's nextTime.
const relaySkew = time.Minute

// RelayFetch asks a node for its copies of origin's entries of stream with a sequence at or
// after after: from position pos of its log, or, when pos is NoPos, from the first it logged
// at or after since (its OriginSince).
type RelayFetch func(ctx context.Context, stream, origin string, after, pos uint64, since time.Time) (PeerBatch, error)

// NoPos asks a relay to start from a time.
const NoPos = ^uint64(0)

// OriginSince is what this node answers a node catching up on origin's entries through it
// (see above): a page of its copies of them with a sequence at or after after, read from
// position pos of its log (NoPos: from since on); Held, Next and End as PeerBatch says.
func (m *Manager) OriginSince(name, origin string, after, pos uint64, since time.Time) (PeerBatch, error) {
	s := m.streamOf(name)
	if s == nil {
		return PeerBatch{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	ps, l := s.ps, s.log
	b := PeerBatch{Origin: origin}
	ps.mu.Lock()
	o := ps.origins[origin]
	some := false // any entry of the origin at or after after here
	if o != nil {
		if o.known {
			b.Held = o.next
			some = o.next > after
		}
		for seq := range o.extra {
			some = some || seq >= after
		}
	}
	b.End = l.Next() // every entry counted in Held is below it
	ps.mu.Unlock()
	if !some || origin == m.o.NodeID {
		b.Next = b.End // nothing of the origin at or after after here (its own entries it serves itself)
		return b, nil
	}
	if pos == NoPos {
		var err error
		if pos, err = l.Seek(since); err != nil {
			return PeerBatch{}, fmt.Errorf("relay stream %s: %w", name, err)
		}
	}
	if first, _ := l.Bounds(); pos < first {
		b.Held = 0 // retention dropped copies the asker may lack: vouch for none
	}
	es, err := l.Read(pos, catchUpMax, catchUpBytes)
	if err != nil {
		return PeerBatch{}, fmt.Errorf("relay stream %s: %w", name, err)
	}
	b.Next = pos
	for i := range es {
		e := &es[i]
		if e.Kind == Peer && e.Origin == origin && e.Seq >= after {
			b.Entries = append(b.Entries, PeerEntry{Stream: name, Seq: e.Seq, Time: e.Time, Topic: e.Topic, Payload: e.Payload})
		}
		b.Next = e.Offset + 1
	}
	return b, nil
}

// Origins lists the nodes whose entries some stream's log holds (known to catch-up), for the
// node to relay those that are down.
func (m *Manager) Origins() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range m.openStreams() {
		s.ps.mu.Lock()
		for id, o := range s.ps.origins {
			if o.known && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		s.ps.mu.Unlock()
	}
	return out
}

// CatchUpVia brings every stream's log up to date with origin's entries that node via holds
// (origin being down), as far as via's log goes now.
func (m *Manager) CatchUpVia(ctx context.Context, origin, via string, fetch RelayFetch) error {
	var errs []error
	for _, s := range m.openStreams() {
		if err := s.ps.catchUpVia(ctx, s.name, origin, via, fetch); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("stream %s from %s via %s: %w", s.name, origin, via, err))
		}
	}
	return errors.Join(errs...)
}

func (ps *peerSync) catchUpVia(ctx context.Context, name, origin, via string, fetch RelayFetch) error {
	for ctx.Err() == nil {
		ps.mu.Lock()
		o := ps.origin(origin)
		if !o.known {
			ps.mu.Unlock()
			return nil // a legacy log that never reached the origin: nothing to go by
		}
		after, since := o.next, time.Unix(0, o.nextTime).Add(-relaySkew)
		pos, ok := o.relay[via]
		if !ok {
			pos = NoPos
		}
		ps.mu.Unlock()
		b, err := fetch(ctx, name, origin, after, pos, since)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Origin != origin {
			return fmt.Errorf("asked %s for %s, it answered for %q", via, origin, b.Origin)
		}
		ps.mu.Lock()
		w, err := ps.appendFrom(origin, b.Entries, false)
		if err != nil {
			ps.mu.Unlock()
			return err
		}
		if pos == NoPos || b.Next > pos {
			if o.relay == nil {
				o.relay = map[string]uint64{}
			}
			o.relay[via] = b.Next
		}
		done := b.Next >= b.End
		if done && b.Held > o.next && o.next >= after {
			// Everything via holds of the origin below Held is now here too (see above).
			o.next = b.Held
			ps.changed = true
			o.advance()
		}
		ps.mu.Unlock()
		if err := w.Wait(); err != nil {
			return err
		}
		if done || (pos != NoPos && b.Next <= pos) {
			return nil // to the end, or nothing new committed there yet: the next round goes on
		}
	}
	return ctx.Err()
}
