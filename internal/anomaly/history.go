package anomaly

import (
	"fmt"
	"sort"
)

// history is a sliding window of the last values, kept both in arrival order (to know which value
// leaves) and sorted (for ranks, medians and nearest neighbours).
type history struct {
	cap    int
	ring   []float64 // arrival order, oldest at start
	start  int
	sorted []float64
}

func newHistory(n int) *history { return &history{cap: n} }

func (h *history) len() int { return len(h.sorted) }

func (h *history) full() bool { return len(h.ring) == h.cap }

// push adds x, dropping the oldest value when full.
func (h *history) push(x float64) {
	if len(h.ring) < h.cap {
		h.ring = append(h.ring, x)
	} else {
		old := h.ring[h.start]
		h.ring[h.start] = x
		h.start = (h.start + 1) % h.cap
		i := sort.SearchFloat64s(h.sorted, old)
		h.sorted = append(h.sorted[:i], h.sorted[i+1:]...)
	}
	i := sort.SearchFloat64s(h.sorted, x)
	h.sorted = append(h.sorted, 0)
	copy(h.sorted[i+1:], h.sorted[i:])
	h.sorted[i] = x
}

// values returns the history in arrival order.
func (h *history) values() []float64 {
	out := make([]float64, 0, len(h.ring))
	out = append(out, h.ring[h.start:]...)
	return append(out, h.ring[:h.start]...)
}

func (h *history) reset(vals []float64) {
	h.ring, h.start, h.sorted = nil, 0, nil
	for _, v := range vals {
		h.push(v)
	}
}

func (h *history) median() float64 {
	n := len(h.sorted)
	if n%2 == 1 {
		return h.sorted[n/2]
	}
	return (h.sorted[n/2-1] + h.sorted[n/2]) / 2
}

func (h *history) restore(capacity int, vals []float64) error {
	if capacity < 1 || len(vals) > capacity {
		return fmt.Errorf("restore detector: history of %d values does not fit capacity %d", len(vals), capacity)
	}
	h.cap = capacity
	h.reset(vals)
	return nil
}
