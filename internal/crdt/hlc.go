// Package crdt holds the conflict-free building blocks of minicloud's replication: the hybrid
// logical clock that orders versions and last-writer-wins comparison. It does no I/O.
package crdt

import (
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

// Timestamp is a hybrid logical clock reading: wall-clock milliseconds in the high 48 bits and a
// logical counter in the low 16, so it sorts like time but never repeats or goes backwards.
type Timestamp uint64

const logicalBits = 16

// Physical returns the wall-clock part.
func (t Timestamp) Physical() time.Time {
	return time.UnixMilli(int64(t >> logicalBits))
}

// HLC issues timestamps from a clock. Safe for concurrent use.
type HLC struct {
	clock clock.Clock
	mu    sync.Mutex
	last  Timestamp
}

// NewHLC returns a hybrid logical clock reading c.
func NewHLC(c clock.Clock) *HLC { return &HLC{clock: c} }

// Now returns a timestamp greater than every one issued or observed before.
func (h *HLC) Now() Timestamp {
	wall := Timestamp(h.clock.Now().UnixMilli()) << logicalBits
	h.mu.Lock()
	defer h.mu.Unlock()
	if wall > h.last {
		h.last = wall
	} else {
		h.last++
	}
	return h.last
}

// Observe moves the clock past a timestamp seen from another node, so that causally later writes
// here order after it even when this node's wall clock is behind.
func (h *HLC) Observe(t Timestamp) {
	h.mu.Lock()
	if t > h.last {
		h.last = t
	}
	h.mu.Unlock()
}

// Version identifies one write: its timestamp and the node that made it. Newer wins; equal
// timestamps are broken by node id so every replica picks the same winner.
type Version struct {
	TS   Timestamp
	Node uint64
}

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	if v.TS != o.TS {
		return v.TS < o.TS
	}
	return v.Node < o.Node
}
