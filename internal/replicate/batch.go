package replicate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/object"
)

// Batched merges: background work that moves many records to one peer (hinted handoff,
// anti-entropy pushes) sends them many per round trip, several round trips in flight, and the
// peer merges a batch's records concurrently so that they share fsyncs. Merges are idempotent
// CRDT merges, so the order of records within and across batches does not matter.

const (
	batchRecords  = 128     // records per merges request
	batchBytes    = 2 << 20 // encoded bytes per merges request (well below maxRPCBody)
	batchInFlight = 4       // merges requests in flight per target
)

// batches splits msgs into consecutive index ranges bounded by batchRecords and batchBytes.
func batches(msgs []object.RecordMsg) [][2]int {
	var out [][2]int
	start, size := 0, 0
	for i, m := range msgs {
		n := len(m.Enc) + len(m.Bucket) + len(m.Key) + 32
		if i > start && (i-start == batchRecords || size+n > batchBytes) {
			out = append(out, [2]int{start, i})
			start, size = i, 0
		}
		size += n
	}
	if start < len(msgs) {
		out = append(out, [2]int{start, len(msgs)})
	}
	return out
}

// pushRecords merges msgs on peer n; errs[i] is msgs[i]'s outcome (nil: merged durably there).
func (s *Store) pushRecords(ctx context.Context, n string, msgs []object.RecordMsg) []error {
	errs := make([]error, len(msgs))
	if !s.o.Cluster.Alive(n) {
		for i := range errs {
			errs[i] = errDown
		}
		return errs
	}
	addr := s.o.Cluster.RPCAddr(n)
	sem := make(chan struct{}, batchInFlight)
	var wg sync.WaitGroup
	for _, b := range batches(msgs) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			berrs, _ := s.mergeBatch(ctx, addr, msgs[b[0]:b[1]])
			copy(errs[b[0]:b[1]], berrs)
		}()
	}
	wg.Wait()
	return errs
}

// mergeBatch merges msgs on addr in one round trip, or two when the peer first needs chunks
// (shipped in between); notes[i] is the peer's lease note for msgs[i] when it merged it.
func (s *Store) mergeBatch(ctx context.Context, addr string, msgs []object.RecordMsg) (errs []error, notes []leaseNote) {
	errs = make([]error, len(msgs))
	notes = make([]leaseNote, len(msgs))
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	idx := make([]int, len(msgs))
	for i := range idx {
		idx[i] = i
	}
	for attempt := 0; attempt < 2 && len(idx) > 0; attempt++ {
		send := make([]object.RecordMsg, len(idx))
		for j, i := range idx {
			send[j] = msgs[i]
		}
		outs, err := s.o.Client.Merges(ctx, addr, send)
		if err != nil {
			for _, i := range idx {
				errs[i] = err
			}
			return errs, notes
		}
		var again []int
		for j, o := range outs {
			i := idx[j]
			errs[i], notes[i] = o.err, o.note
			if attempt == 0 && errors.Is(o.err, object.ErrMissingChunks) {
				if err := s.shipChunks(ctx, addr, msgs[i], o.missing); err != nil {
					errs[i] = err
					continue
				}
				again = append(again, i)
			}
		}
		idx = again
	}
	return errs, notes
}

// shipChunks sends the peer the chunks of m it said it lacks.
func (s *Store) shipChunks(ctx context.Context, addr string, m object.RecordMsg, missing []string) error {
	refs, err := m.Chunks()
	if err != nil {
		return err
	}
	byID := make(map[string]blobstore.Ref, len(refs))
	for _, r := range refs {
		byID[r.ID] = r
	}
	for _, id := range missing {
		ref, ok := byID[id]
		if !ok {
			return fmt.Errorf("peer asked for chunk %s, which the record does not reference", id)
		}
		data, err := s.readChunk(ref)
		if err != nil {
			return fmt.Errorf("read chunk %s to ship: %w", id, err)
		}
		if err := s.o.Client.do(ctx, "PUT", addr, "/rpc/chunk/"+id, nil, data, nil); err != nil {
			return fmt.Errorf("ship chunk %s: %w", id, err)
		}
	}
	return nil
}
