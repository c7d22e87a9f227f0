package stream

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Objects is what forwarding and archiving need of the node's object layer
// (replicate.Store): a PUT is acknowledged once W replicas of the site have it, and the layer
// ships it on to the other sites hosting the bucket and to the bucket's cloud targets, across
// outages, by itself.
type Objects interface {
	CreateBucketSites(ctx context.Context, name string, sites []string) error
	GetBucket(ctx context.Context, name string) (object.Bucket, error)
	AddSyncTarget(ctx context.Context, bucket string, t object.SyncTarget) (object.SyncTarget, error)
	PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts object.PutOptions) (object.ObjectInfo, error)
	GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (object.ObjectInfo, object.Reader, error)
	HeadObject(ctx context.Context, bucket, key, versionID string) (object.ObjectInfo, error)
	ListObjects(ctx context.Context, bucket string, opts object.ListOptions) (object.ListResult, error)
}

// worker is a goroutine that ships a stream somewhere: a forwarder, an importer or an archiver.
type worker struct {
	id     string
	spec   string // the configuration it runs with: a change restarts it
	cancel context.CancelFunc
	done   chan struct{}
	stats  workerStats
}

// workerStats are a worker's counters, read by describe and the metrics.
type workerStats struct {
	cursor  atomic.Uint64 // next log offset to ship (forwarders, archivers)
	shipped atomic.Uint64 // messages shipped (or imported)
	objects atomic.Uint64 // objects written (or read)
	lost    atomic.Uint64 // messages retention dropped before they were shipped
	dups    atomic.Uint64 // importer: messages dropped as already imported
	lastErr atomic.Pointer[string]
}

func (w *worker) stop() {
	w.cancel()
	<-w.done
}

func (s *workerStats) fail(err error) {
	msg := time.Now().UTC().Format(time.RFC3339) + ": " + err.Error()
	s.lastErr.Store(&msg)
}

func (s *workerStats) ok() { s.lastErr.Store(nil) }

// startWorkers starts the workers the stream's definition asks for on this node and stops
// those it no longer does. Called under m.mu.
func (m *Manager) startWorkers(s *openStream) {
	type job struct {
		spec string
		run  func(context.Context, *worker)
	}
	want := map[string]job{}
	if m.o.Objects != nil {
		d := s.def
		for _, f := range d.Forwards {
			switch {
			case f.Site == m.o.Site:
				want["import"] = job{"import", func(ctx context.Context, w *worker) { m.runImporter(ctx, w, s.log, d) }}
			case f.Site != "" && m.o.Sites == nil:
				// alone: no other site to forward to
			default:
				want[f.ID()] = job{fmt.Sprintf("%+v", f.Cloud), func(ctx context.Context, w *worker) { m.runForwarder(ctx, w, s.log, d, f) }}
			}
		}
		for _, a := range d.Archives {
			want[a.ID()] = job{fmt.Sprintf("%+v", a), func(ctx context.Context, w *worker) { m.runArchiver(ctx, w, s.log, d, a) }}
		}
	}
	for id, w := range s.workers {
		if j, ok := want[id]; !ok || j.spec != w.spec {
			w.stop()
			delete(s.workers, id)
		}
	}
	for id, j := range want {
		if s.workers[id] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(m.ctx)
		w := &worker{id: id, spec: j.spec, cancel: cancel, done: make(chan struct{})}
		s.workers[id] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer close(w.done)
			j.run(ctx, w)
		}()
	}
}

// sleep waits d or until ctx ends; false when it ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff doubles a retry delay up to max.
func backoff(d, max time.Duration) time.Duration {
	if d <= 0 {
		return 100 * time.Millisecond
	}
	if d *= 2; d > max {
		d = max
	}
	return d
}
