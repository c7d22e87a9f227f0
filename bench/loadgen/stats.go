package main

import (
	"math"
	"slices"
	"time"
)

// maxErrorSamples bounds the error messages kept per worker.
const maxErrorSamples = 3

// recorder collects one worker's outcomes; it is not safe for concurrent use.
type recorder struct {
	ops     map[string]*opStats
	samples []string
}

// opStats is what happened to one kind of operation.
type opStats struct {
	lat    []time.Duration // successful operations only
	bytes  int64           // body bytes moved by successful operations
	items  int64           // objects listed (list only)
	errors int64
}

func newRecorder() *recorder {
	return &recorder{ops: make(map[string]*opStats)}
}

func (r *recorder) stats(op string) *opStats {
	s := r.ops[op]
	if s == nil {
		s = &opStats{}
		r.ops[op] = s
	}
	return s
}

// ok records a successful operation.
func (r *recorder) ok(op string, d time.Duration, bytes, items int64) {
	s := r.stats(op)
	s.lat = append(s.lat, d)
	s.bytes += bytes
	s.items += items
}

// fail records a failed operation and keeps its message as a sample.
func (r *recorder) fail(op string, err error) {
	r.stats(op).errors++
	if len(r.samples) < maxErrorSamples {
		r.samples = append(r.samples, op+": "+err.Error())
	}
}

// merge folds other into r.
func (r *recorder) merge(other *recorder) {
	for op, o := range other.ops {
		s := r.stats(op)
		s.lat = append(s.lat, o.lat...)
		s.bytes += o.bytes
		s.items += o.items
		s.errors += o.errors
	}
	for _, m := range other.samples {
		if len(r.samples) < maxErrorSamples && !slices.Contains(r.samples, m) {
			r.samples = append(r.samples, m)
		}
	}
}

// total folds every kind of operation into one.
func (r *recorder) total() *opStats {
	t := &opStats{}
	for _, s := range r.ops {
		t.lat = append(t.lat, s.lat...)
		t.bytes += s.bytes
		t.items += s.items
		t.errors += s.errors
	}
	return t
}

// percentiles returns the p-quantiles (0 < p <= 1) of lat by the
// nearest-rank method; lat is sorted in place. Empty input gives zeros.
func percentiles(lat []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(lat) == 0 {
		return out
	}
	slices.Sort(lat)
	for i, p := range ps {
		rank := int(math.Ceil(p*float64(len(lat)))) - 1
		out[i] = lat[min(max(rank, 0), len(lat)-1)]
	}
	return out
}
