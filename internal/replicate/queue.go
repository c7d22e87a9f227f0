package replicate

import (
	"context"
	"sync"

	"github.com/minicloud/minicloud/internal/object"
)

// Write batching: the merges a coordinator sends to one peer wait in that peer's queue, which up
// to queueSenders senders drain, each taking what has accumulated (up to a batch, see batches)
// into one merges request. Under light load a write goes alone and at once; under heavy load a
// round trip carries many writes, and the peer commits them together (one fsync for the batch,
// see opMerges). Each write still gets its own outcome.

// queueSenders bounds the merges requests in flight to one peer from the write path.
const queueSenders = 4

type mergeQueue struct {
	mu      sync.Mutex
	waiting []queuedMerge
	senders int
}

type queuedMerge struct {
	msg  object.RecordMsg
	done chan mergeDone // buffered: a sender never blocks on a waiter that gave up
}

// mergeDone is one queued merge's outcome, with the peer's lease note (lease.go).
type mergeDone struct {
	err  error
	note leaseNote
}

type mergeQueues struct {
	mu sync.Mutex
	m  map[string]*mergeQueue
}

func (qs *mergeQueues) get(n string) *mergeQueue {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.m == nil {
		qs.m = map[string]*mergeQueue{}
	}
	q := qs.m[n]
	if q == nil {
		q = &mergeQueue{}
		qs.m[n] = q
	}
	return q
}

// queueMerge merges msg on peer n through n's queue and returns its outcome and n's lease note.
func (s *Store) queueMerge(ctx context.Context, n string, msg object.RecordMsg) (leaseNote, error) {
	q := s.queues.get(n)
	done := make(chan mergeDone, 1)
	q.mu.Lock()
	q.waiting = append(q.waiting, queuedMerge{msg: msg, done: done})
	start := q.senders < queueSenders
	if start {
		q.senders++
	}
	q.mu.Unlock()
	if start {
		s.wg.Add(1)
		go s.drainQueue(n, q)
	}
	select {
	case d := <-done:
		return d.note, d.err
	case <-ctx.Done():
		return leaseNote{}, ctx.Err()
	}
}

// drainQueue sends q's waiting merges, a batch per request, until the queue is empty.
func (s *Store) drainQueue(n string, q *mergeQueue) {
	defer s.wg.Done()
	for {
		q.mu.Lock()
		if len(q.waiting) == 0 {
			q.senders--
			q.mu.Unlock()
			return
		}
		msgs := make([]object.RecordMsg, 0, min(len(q.waiting), batchRecords))
		for _, w := range q.waiting {
			msgs = append(msgs, w.msg)
			if len(msgs) == batchRecords {
				break
			}
		}
		k := batches(msgs)[0][1]
		batch := append([]queuedMerge(nil), q.waiting[:k]...)
		q.waiting = append(q.waiting[:0:0], q.waiting[k:]...)
		q.mu.Unlock()
		errs, notes := s.mergeBatch(s.ctx, s.o.Cluster.RPCAddr(n), msgs[:k])
		for i, w := range batch {
			w.done <- mergeDone{err: errs[i], note: notes[i]}
		}
	}
}
