package main

import (
	"context"
	"sync"
	"time"
)

// worker performs one timed operation per call and records its outcome.
// Each worker is called from one goroutine only.
type worker func(ctx context.Context, rec *recorder)

// measure runs cfg.Concurrency workers, each calling its worker back to back
// until cfg.Duration has passed. Operations that have started are allowed to
// finish (each is bounded by cfg.OpTimeout), so elapsed can exceed the
// duration slightly; rates are computed over elapsed.
func measure(ctx context.Context, cfg *Config, newWorker func(id int) worker) (*recorder, time.Duration) {
	workers := make([]worker, cfg.Concurrency)
	recs := make([]*recorder, cfg.Concurrency)
	for i := range workers {
		workers[i], recs[i] = newWorker(i), newRecorder()
	}
	loopCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range workers {
		wg.Go(func() {
			for loopCtx.Err() == nil {
				w(ctx, recs[i])
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	return all, elapsed
}

// opFunc is one S3 operation; it returns the body bytes moved and, for
// listings, the number of objects seen.
type opFunc func(ctx context.Context) (bytes, items int64, err error)

// timeOp runs f under cfg.OpTimeout and records it as op. An operation cut
// short because the whole run was interrupted is not recorded at all.
func timeOp(ctx context.Context, cfg *Config, rec *recorder, op string, f opFunc) error {
	opCtx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	start := time.Now()
	bytes, items, err := f(opCtx)
	d := time.Since(start)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		rec.fail(op, err)
	default:
		rec.ok(op, d, bytes, items)
	}
	return err
}
