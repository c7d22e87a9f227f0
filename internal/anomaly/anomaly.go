// Package anomaly holds streaming anomaly detectors for one series each: spike/dip detection by
// adaptive kernel density (in the spirit of Azure Stream Analytics' AnomalyDetection_SpikeAndDip),
// change-point detection by an exchangeability martingale (AnomalyDetection_ChangePoint), and a
// robust EWMA z-score. Each takes one value at a time, answers at once, keeps bounded state, and
// can be saved and restored so that a rule resumes after a restart with the same answers.
//
// Detectors are plain values without goroutines, clocks or I/O; they are not safe for concurrent
// use. Non-finite inputs (NaN, ±Inf) are ignored: they return a zero Result and change nothing.
package anomaly

import (
	"encoding/json"
	"fmt"
	"math"
)

// Result is a detector's answer for one value.
type Result struct {
	IsAnomaly bool
	// Score grows with how anomalous the value is. For SpikeDip and ChangePoint it lies in [0, 1]
	// and is compared with the confidence level; for ZScore it is |z|.
	Score float64
}

// Detector is what the three detectors have in common.
type Detector interface {
	Update(x float64) Result
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

var (
	_ Detector = (*SpikeDip)(nil)
	_ Detector = (*ChangePoint)(nil)
	_ Detector = (*ZScore)(nil)
)

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func checkConfidence(c float64) error {
	if !(c > 0 && c < 100) {
		return fmt.Errorf("confidence must be between 0 and 100 (exclusive), got %v", c)
	}
	return nil
}

func checkHistory(n int) error {
	if n < minHistory || n > maxHistory {
		return fmt.Errorf("history must be from %d to %d values, got %d", minHistory, maxHistory, n)
	}
	return nil
}

// Bounds on the history length: too few values give no density estimate, too many cost O(n) per
// value for nothing.
const (
	minHistory = 8
	maxHistory = 10000
)

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("snapshot detector: %w", err)
	}
	return b, nil
}

func unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("restore detector: %w", err)
	}
	return nil
}
