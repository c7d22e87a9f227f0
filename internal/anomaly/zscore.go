package anomaly

import (
	"fmt"
	"math"
)

// ZScore flags values more than Threshold standard deviations from an exponentially weighted mean.
// Mean and variance are EWMAs with weight Alpha; until 2/Alpha values have been seen they are the
// plain running mean and variance, and no value is flagged. The update is robust: a value's
// deviation is clipped to ±Threshold·σ before it moves the mean and variance (a Huber-style
// update), so one spike neither drags the mean nor inflates σ enough to hide the next one, while
// a lasting shift is still absorbed, as σ then grows step by step.
type ZScore struct {
	threshold, alpha float64
	n                int64
	mean, variance   float64
}

// NewZScore returns a detector.
func NewZScore(threshold, alpha float64) (*ZScore, error) {
	if !(threshold > 0) || math.IsInf(threshold, 0) {
		return nil, fmt.Errorf("z-score: threshold must be a positive number, got %v", threshold)
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("z-score: alpha must be between 0 and 1 (exclusive), got %v", alpha)
	}
	return &ZScore{threshold: threshold, alpha: alpha}, nil
}

func (d *ZScore) warm() bool { return float64(d.n) >= 2/d.alpha }

// Update scores x against the mean and variance so far, then folds it in.
func (d *ZScore) Update(x float64) Result {
	if !finite(x) {
		return Result{}
	}
	var r Result
	sd := math.Sqrt(d.variance)
	floor := 1e-9 * max(1, math.Abs(d.mean))
	dev := x - d.mean
	if d.warm() {
		r.Score = math.Abs(dev) / max(sd, floor)
		r.IsAnomaly = r.Score > d.threshold
	}
	d.n++
	if !d.warm() {
		// Welford's running mean and population variance while warming up.
		d.mean += dev / float64(d.n)
		d.variance += (dev*(x-d.mean) - d.variance) / float64(d.n)
		return r
	}
	limit := d.threshold * max(sd, floor)
	dev = max(-limit, min(dev, limit))
	d.mean += d.alpha * dev
	d.variance = (1 - d.alpha) * (d.variance + d.alpha*dev*dev)
	return r
}

type zScoreState struct {
	Threshold, Alpha float64
	N                int64
	Mean, Variance   float64
}

// Snapshot saves the configuration and the moments.
func (d *ZScore) Snapshot() ([]byte, error) {
	return marshal(zScoreState{d.threshold, d.alpha, d.n, d.mean, d.variance})
}

// Restore replaces the state with a snapshot's.
func (d *ZScore) Restore(data []byte) error {
	var st zScoreState
	if err := unmarshal(data, &st); err != nil {
		return err
	}
	d.threshold, d.alpha, d.n, d.mean, d.variance = st.Threshold, st.Alpha, st.N, st.Mean, st.Variance
	return nil
}
