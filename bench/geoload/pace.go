package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// lateAfter is how far behind its schedule a PUT may start before it counts as late.
const lateAfter = 10 * time.Millisecond

// result is what a run measured.
type result struct {
	puts    int           // PUTs started
	errors  int           // PUTs that failed
	late    int           // PUTs started more than lateAfter behind schedule
	elapsed time.Duration // from the first PUT's start to the last one's end
	putLat  []time.Duration
	acked   []time.Time // per key index: when its PUT was acknowledged (zero: not)
	samples []string

	// With -lag.
	lag      []time.Duration // per acknowledged key: acknowledgement at -a to first listing at -b
	early    int             // keys listed at -b before their PUT returned at -a (lag counted as 0)
	unseen   int             // acknowledged keys never listed at -b
	lists    int             // listings made at -b
	listErrs int             // listings at -b that failed (retried at the next poll)
}

func key(prefix string, i int) string { return fmt.Sprintf("%s/%09d", prefix, i) }

// putPaced starts PUTs of new keys at c.rate per second for c.duration, on schedule whatever
// the latency (open loop, at most c.maxInFlight at once), and waits for all of them.
func putPaced(ctx context.Context, cl *minio.Core, c *config) *result {
	n := int(math.Ceil(c.rate * c.duration.Seconds()))
	res := &result{acked: make([]time.Time, n)}
	base := make([]byte, c.size)
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], rand.Uint64())
	_, _ = rand.NewChaCha8(seed).Read(base) // never fails
	opts := minio.PutObjectOptions{DisableContentSha256: c.unsignedPayload, ContentType: "application/octet-stream"}

	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.maxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
schedule:
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / c.rate))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break schedule
			case <-timer.C:
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break schedule
		}
		if time.Since(due) > lateAfter {
			res.late++
		}
		res.puts++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			body := stamped(base, i)
			octx, cancel := context.WithTimeout(ctx, c.opTimeout)
			t0 := time.Now()
			_, err := cl.PutObject(octx, c.bucket, key(c.prefix, i), bytes.NewReader(body), int64(len(body)), "", "", opts)
			t1 := time.Now()
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errors++
				if len(res.samples) < 3 {
					res.samples = append(res.samples, fmt.Sprintf("put %s: %v", key(c.prefix, i), err))
				}
				return
			}
			res.putLat = append(res.putLat, t1.Sub(t0))
			res.acked[i] = t1
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// stamped returns a copy of base with a stamp unique to body i at the start of every 4 KiB, so
// that no two bodies share a chunk.
func stamped(base []byte, i int) []byte {
	b := slices.Clone(base)
	for off := 0; off+16 <= len(b); off += 4 << 10 {
		binary.LittleEndian.PutUint64(b[off:], uint64(i))
		binary.LittleEndian.PutUint64(b[off+8:], uint64(off))
	}
	return b
}

// percentile returns the p-quantile (0 < p <= 1) of sorted by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// line is the one-line result: key=value fields.
func (r *result) line(c *config) string {
	slices.Sort(r.putLat)
	f := []string{
		"label=" + strings.ReplaceAll(c.label, " ", "_"),
		"bucket=" + c.bucket,
		fmt.Sprintf("rate=%g", c.rate),
		fmt.Sprintf("size=%d", c.size),
		fmt.Sprintf("seconds=%.1f", r.elapsed.Seconds()),
		fmt.Sprintf("puts=%d", r.puts),
		fmt.Sprintf("put_ops/s=%.1f", float64(len(r.putLat))/c.duration.Seconds()),
		"put_p50_ms=" + ms(percentile(r.putLat, 0.5)),
		"put_p90_ms=" + ms(percentile(r.putLat, 0.9)),
		"put_p99_ms=" + ms(percentile(r.putLat, 0.99)),
		"put_max_ms=" + ms(percentile(r.putLat, 1)),
		fmt.Sprintf("late=%d", r.late),
		fmt.Sprintf("errors=%d", r.errors),
	}
	if c.lag {
		slices.Sort(r.lag)
		f = append(f,
			"lag_p50_ms="+ms(percentile(r.lag, 0.5)),
			"lag_p90_ms="+ms(percentile(r.lag, 0.9)),
			"lag_p99_ms="+ms(percentile(r.lag, 0.99)),
			"lag_max_ms="+ms(percentile(r.lag, 1)),
			fmt.Sprintf("lag_early=%d", r.early),
			fmt.Sprintf("unseen=%d", r.unseen),
			fmt.Sprintf("lists=%d", r.lists),
			fmt.Sprintf("list_errors=%d", r.listErrs),
		)
	}
	return strings.Join(f, " ")
}
