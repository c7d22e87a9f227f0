package crdt

import (
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

func TestHLCMonotonicUnderStuckAndBackwardClock(t *testing.T) {
	c := clock.NewFake(time.Unix(1000, 0))
	h := NewHLC(c)
	prev := h.Now()
	for i := 0; i < 1000; i++ {
		if i == 500 {
			c.Advance(-time.Hour) // wall clock jumps back
		}
		ts := h.Now()
		if ts <= prev {
			t.Fatalf("step %d: %d not after %d", i, ts, prev)
		}
		prev = ts
	}
}

func TestHLCObserveOrdersAfterRemote(t *testing.T) {
	c := clock.NewFake(time.Unix(1000, 0))
	h := NewHLC(c)
	remote := Timestamp(time.Unix(5000, 0).UnixMilli()) << logicalBits
	h.Observe(remote)
	if got := h.Now(); got <= remote {
		t.Fatalf("after observing %d got %d", remote, got)
	}
}

func TestVersionLess(t *testing.T) {
	cases := []struct {
		a, b Version
		want bool
	}{
		{Version{1, 1}, Version{2, 0}, true},
		{Version{2, 0}, Version{1, 9}, false},
		{Version{2, 1}, Version{2, 2}, true},
		{Version{2, 2}, Version{2, 2}, false},
	}
	for _, c := range cases {
		if got := c.a.Less(c.b); got != c.want {
			t.Errorf("%v < %v = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
