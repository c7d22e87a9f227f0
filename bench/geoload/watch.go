package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// maxPerListing bounds the keys one listing reads, so one pass stays short.
const maxPerListing = 20000

// watcher lists the run's keys at -b over and over and records when each first shows up.
// Every listing starts after the highest key below which every key has been seen, so it reads
// only the keys still in flight (about lag × rate) rather than the whole run.
type watcher struct {
	c   *minio.Core
	cfg *config

	mu    sync.Mutex
	seen  []time.Time // per key index: when a listing at -b first showed it
	low   int         // every key below low has been seen
	lists int
	errs  int

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// newWatcher starts watching; stop ends it.
func newWatcher(ctx context.Context, c *minio.Core, cfg *config) *watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{c: c, cfg: cfg, seen: make([]time.Time, int(cfg.rate*cfg.duration.Seconds())+1), cancel: cancel, done: make(chan struct{})}
	go w.loop(ctx)
	return w
}

func (w *watcher) loop(ctx context.Context) {
	defer close(w.done)
	for {
		w.listOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.poll):
		}
	}
}

// listOnce lists the keys not known to be at -b yet, in one ListObjectsV2 pass.
func (w *watcher) listOnce(ctx context.Context) {
	w.mu.Lock()
	after := ""
	if w.low > 0 {
		after = key(w.cfg.prefix, w.low-1)
	}
	w.mu.Unlock()
	opts := minio.ListObjectsOptions{Prefix: w.cfg.prefix + "/", StartAfter: after, Recursive: true, MaxKeys: 1000}
	n := 0
	for obj := range w.c.ListObjectsIter(ctx, w.cfg.bucket, opts) {
		now := time.Now()
		if obj.Err != nil {
			w.mu.Lock()
			w.errs++
			w.mu.Unlock()
			break
		}
		i, err := strconv.Atoi(strings.TrimPrefix(obj.Key, w.cfg.prefix+"/"))
		w.mu.Lock()
		if err == nil && i >= 0 && i < len(w.seen) && w.seen[i].IsZero() {
			w.seen[i] = now
		}
		w.mu.Unlock()
		if n++; n >= maxPerListing {
			break
		}
	}
	w.mu.Lock()
	w.lists++
	for w.low < len(w.seen) && !w.seen[w.low].IsZero() {
		w.low++
	}
	w.mu.Unlock()
}

// finish waits, at most drain, until every acknowledged key has been seen at -b.
func (w *watcher) finish(ctx context.Context, acked []time.Time, drain time.Duration) {
	deadline := time.Now().Add(drain)
	for {
		missing := false
		w.mu.Lock()
		for i, t := range acked {
			if !t.IsZero() && (i >= len(w.seen) || w.seen[i].IsZero()) {
				missing = true
				break
			}
		}
		w.mu.Unlock()
		if !missing || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the watching and waits for it.
func (w *watcher) stop() {
	w.once.Do(w.cancel)
	<-w.done
}

// lags fills r's lag figures from what was seen.
func (w *watcher) lags(r *result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.lists, r.listErrs = w.lists, w.errs
	for i, t := range r.acked {
		if t.IsZero() {
			continue
		}
		if i >= len(w.seen) || w.seen[i].IsZero() {
			r.unseen++
			continue
		}
		d := w.seen[i].Sub(t)
		if d < 0 {
			r.early++
			d = 0
		}
		r.lag = append(r.lag, d)
	}
}
