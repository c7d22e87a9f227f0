package anomaly

import (
	"fmt"
	"math"
	"sort"
)

// epsilon is the power martingale's betting exponent: the factor for a p-value p is ε·p^(ε−1).
// 0.1 bets strongly on small p-values, which is what a change produces, as in ML.NET's default.
const epsilon = 0.1

// ChangePoint flags a lasting change of level or spread: a run of values that the history makes
// strange, as opposed to one spike.
//
// Strangeness is the distance from the history's median; each value gets the conformal p-value of
// its strangeness among the history's. Under no change these p-values are uniform, and a power
// martingale over them stays small (Ville's inequality bounds the chance it ever reaches λ by
// 1/λ). The martingale is kept in log form with a floor at 1, so that it starts betting afresh
// after quiet periods (a CUSUM-like restart), and it signals when it reaches λ = 1/(1 − c) for
// confidence c. Score is 1 − 1/M.
//
// While the martingale is above 1 the values of the run are held out of the history: a new regime
// must not become its own reference before it is judged. When the martingale falls back to 1 they
// join the history; after a signal they become the whole history, so the detector learns the new
// regime instead of signalling it again and again.
type ChangePoint struct {
	confidence float64
	hist       *history
	logM       float64
	run        []float64 // values since the martingale last stood at 1
}

// NewChangePoint returns a detector; confidence is a percentage such as 95 or 99.
func NewChangePoint(confidence float64, historySize int) (*ChangePoint, error) {
	if err := checkConfidence(confidence); err != nil {
		return nil, fmt.Errorf("change point: %w", err)
	}
	if err := checkHistory(historySize); err != nil {
		return nil, fmt.Errorf("change point: %w", err)
	}
	return &ChangePoint{confidence: confidence, hist: newHistory(historySize)}, nil
}

// Update scores x, then adds it to the history or to the run under suspicion.
func (d *ChangePoint) Update(x float64) Result {
	if !finite(x) {
		return Result{}
	}
	if d.hist.len() < max(minHistory, d.hist.cap/2) {
		d.hist.push(x)
		return Result{}
	}
	p := d.pValue(x)
	d.logM = max(0, d.logM+math.Log(epsilon)+(epsilon-1)*math.Log(p))
	r := Result{Score: 1 - math.Exp(-d.logM)}
	d.run = append(d.run, x)
	switch {
	case d.logM >= -math.Log(1-d.confidence/100):
		r.IsAnomaly = true
		d.hist.reset(d.run)
		d.logM, d.run = 0, d.run[:0]
	case d.logM == 0 || len(d.run) >= d.hist.cap:
		// The suspicion cleared (or has lasted a whole history): the run is ordinary data.
		for _, v := range d.run {
			d.hist.push(v)
		}
		d.run = d.run[:0]
	}
	return r
}

// pValue is the share of history values at least as strange as x, counting ties half (a
// deterministic stand-in for the usual random tie-break) and x itself once.
func (d *ChangePoint) pValue(x float64) float64 {
	s := d.hist.sorted
	med := d.hist.median()
	a := math.Abs(x - med)
	// Values strictly stranger than x lie outside [med−a, med+a]; ties lie on its bounds.
	lo := sort.SearchFloat64s(s, med-a)
	hi := sort.Search(len(s), func(i int) bool { return s[i] > med+a })
	outside := lo + len(s) - hi
	ties := countEqual(s, med-a) + countEqual(s, med+a)
	if a == 0 {
		ties = countEqual(s, med)
	}
	return (float64(outside) + 0.5*float64(ties+1)) / float64(len(s)+1)
}

func countEqual(s []float64, v float64) int {
	i := sort.SearchFloat64s(s, v)
	j := i
	for j < len(s) && s[j] == v {
		j++
	}
	return j - i
}

type changePointState struct {
	Confidence float64
	Capacity   int
	History    []float64
	LogM       float64
	Run        []float64
}

// Snapshot saves the configuration, history and martingale.
func (d *ChangePoint) Snapshot() ([]byte, error) {
	return marshal(changePointState{d.confidence, d.hist.cap, d.hist.values(), d.logM, d.run})
}

// Restore replaces the state with a snapshot's.
func (d *ChangePoint) Restore(data []byte) error {
	var st changePointState
	if err := unmarshal(data, &st); err != nil {
		return err
	}
	if d.hist == nil {
		d.hist = &history{}
	}
	if len(st.Run) > st.Capacity {
		return fmt.Errorf("restore detector: run of %d values exceeds capacity %d", len(st.Run), st.Capacity)
	}
	d.confidence, d.logM, d.run = st.Confidence, st.LogM, st.Run
	return d.hist.restore(st.Capacity, st.History)
}
