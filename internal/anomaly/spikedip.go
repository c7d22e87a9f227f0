package anomaly

import (
	"fmt"
	"strings"
)

// Mode says which side of the distribution SpikeDip watches.
type Mode int

// The modes, named in SQL as 'spikes', 'dips' and 'spikesanddips'.
const (
	SpikesAndDips Mode = iota
	Spikes
	Dips
)

// ParseMode reads a mode name, case-insensitively.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "spikes":
		return Spikes, nil
	case "dips":
		return Dips, nil
	case "spikesanddips", "":
		return SpikesAndDips, nil
	}
	return 0, fmt.Errorf("mode must be 'spikes', 'dips' or 'spikesanddips', got %q", s)
}

// SpikeDip flags values that the recent history makes unlikely. For each value it estimates, by
// an adaptive kernel density over the last History values, the probability p of a value at least
// this far out (above it for spikes, below for dips, the smaller tail doubled for both). Score is
// 1 − p, and the value is an anomaly when Score ≥ Confidence/100, once half the history is there.
// This is the p-value test of ML.NET's IID spike detector that Azure Stream Analytics' function
// wraps; a spike is added to the history like any value.
type SpikeDip struct {
	confidence float64
	mode       Mode
	hist       *history
	scratch    []float64
}

// NewSpikeDip returns a detector; confidence is a percentage such as 95 or 99.9.
func NewSpikeDip(confidence float64, historySize int, mode Mode) (*SpikeDip, error) {
	if err := checkConfidence(confidence); err != nil {
		return nil, fmt.Errorf("spike/dip: %w", err)
	}
	if err := checkHistory(historySize); err != nil {
		return nil, fmt.Errorf("spike/dip: %w", err)
	}
	return &SpikeDip{confidence: confidence, mode: mode, hist: newHistory(historySize)}, nil
}

// Update scores x against the history, then adds it.
func (d *SpikeDip) Update(x float64) Result {
	if !finite(x) {
		return Result{}
	}
	var r Result
	if d.hist.len() >= max(minHistory, d.hist.cap/2) {
		above, below := tails(d.hist.sorted, x, &d.scratch)
		var p float64
		switch d.mode {
		case Spikes:
			p = above
		case Dips:
			p = below
		default:
			p = min(1, 2*min(above, below))
		}
		r.Score = 1 - p
		r.IsAnomaly = r.Score >= d.confidence/100
	}
	d.hist.push(x)
	return r
}

type spikeDipState struct {
	Confidence float64
	Mode       Mode
	Capacity   int
	History    []float64
}

// Snapshot saves the configuration and the history.
func (d *SpikeDip) Snapshot() ([]byte, error) {
	return marshal(spikeDipState{d.confidence, d.mode, d.hist.cap, d.hist.values()})
}

// Restore replaces the state with a snapshot's.
func (d *SpikeDip) Restore(data []byte) error {
	var st spikeDipState
	if err := unmarshal(data, &st); err != nil {
		return err
	}
	if d.hist == nil {
		d.hist = &history{}
	}
	d.confidence, d.mode = st.Confidence, st.Mode
	return d.hist.restore(st.Capacity, st.History)
}
