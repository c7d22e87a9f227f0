package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

// Drain: when a site is removed from a bucket, its nodes forward the bucket's requests to the
// hosting sites from then on, and each of them hands the records it still holds to every
// reachable hosting site (committed there on the write quorum, the chunks they lack shipped
// first) before dropping them, a batch at a time. Status shows what is left. A record that
// arrives later (a hint, an outbox entry queued before the change) is handed over by the next
// round. Until a node has counted what it holds, it blocks tombstone purges (geopurge.go):
// what it hands over could be older than a tombstone.

const drainBatch = 256

// drainRound hands over the records of every bucket this site no longer hosts.
func (s *Store) drainRound(ctx context.Context) {
	bs, err := s.local.ListBuckets(ctx)
	if err != nil {
		return
	}
	left := map[string]int{}
	var oldest crdt.Timestamp
	complete := true
	for _, b := range bs {
		if len(b.Sites) == 0 || slices.Contains(b.Sites, s.o.Site) {
			continue
		}
		n, ts, err := s.drainBucket(ctx, b)
		if err != nil && !errors.Is(err, errNoTarget) {
			s.log.Debug("drain", "bucket", b.Name, "err", err)
		}
		if ctx.Err() != nil {
			complete = false
		}
		if n > 0 {
			left[b.Name] = n
			if oldest == 0 || ts < oldest {
				oldest = ts
			}
		}
	}
	d := &s.geo.drain
	d.mu.Lock()
	d.left = left
	d.minTS = oldest
	d.known = d.known || complete
	d.mu.Unlock()
}

// drainBucket hands over b's records held here; it returns how many are still held and the
// oldest version among them.
func (s *Store) drainBucket(ctx context.Context, b object.Bucket) (int, crdt.Timestamp, error) {
	var firstErr error
	var batch []object.RecordMsg
	left := 0
	var oldest crdt.Timestamp
	keep := func(ms []object.RecordMsg) {
		for _, m := range ms {
			left++
			if oldest == 0 || m.Version.TS < oldest {
				oldest = m.Version.TS
			}
		}
	}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if firstErr == nil {
			firstErr = s.handOver(ctx, b, batch)
			if firstErr == nil {
				k, err := dropRecords(s.local, batch)
				firstErr = err
				s.geo.drain.mu.Lock()
				if s.geo.drain.drained == nil {
					s.geo.drain.drained = map[string]int64{}
				}
				s.geo.drain.drained[b.Name] += int64(k)
				s.geo.drain.mu.Unlock()
				batch = batch[:0]
				return
			}
		}
		keep(batch)
		batch = batch[:0]
	}
	err := s.local.ScanBucket(ctx, b.Name, func(m object.RecordMsg) error {
		batch = append(batch, m)
		if len(batch) >= drainBatch {
			flush()
		}
		return nil
	})
	flush()
	if err != nil {
		return left, oldest, err
	}
	return left, oldest, firstErr
}

// handOver commits msgs in every reachable hosting site of b (at least one).
func (s *Store) handOver(ctx context.Context, b object.Bucket, msgs []object.RecordMsg) error {
	done := 0
	var firstErr error
	for _, site := range b.Sites {
		err := s.applyToSite(ctx, site, msgs)
		if errors.Is(err, errNoTarget) {
			continue // unreachable now: the cross-site anti-entropy of the others covers it
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("hand over to site %s: %w", site, err)
			}
			continue
		}
		done++
	}
	if firstErr != nil {
		return firstErr
	}
	if done == 0 {
		return fmt.Errorf("no hosting site of %s is reachable: %w", b.Name, errNoTarget)
	}
	return nil
}
