package stream

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencies is a histogram of durations with fixed buckets, cheap enough for the writer to
// observe every group commit (atomic adds, no lock), read by the metrics at scrape time.
type latencies struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64 // the last: above every bucket
	sum    atomic.Int64                           // ns
}

// latencyBuckets (seconds) span an fdatasync on an idle SSD (tens of microseconds) to a disk
// stalled behind other processes' writes (tens of milliseconds).
var latencyBuckets = [...]float64{25e-6, 50e-6, 100e-6, 200e-6, 400e-6, 800e-6, 1.6e-3, 3.2e-3, 6.4e-3, 12.8e-3, 25.6e-3, 51.2e-3, 0.1024}

func (h *latencies) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// metric returns the histogram as a Prometheus constant metric.
func (h *latencies) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var n uint64
	for i, le := range latencyBuckets {
		n += h.counts[i].Load()
		buckets[le] = n
	}
	n += h.counts[len(latencyBuckets)].Load()
	return prometheus.MustNewConstHistogram(d, n, time.Duration(h.sum.Load()).Seconds(), buckets, labels...)
}
