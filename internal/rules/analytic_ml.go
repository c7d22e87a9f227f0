package rules

import (
	"encoding/json"
	"fmt"

	"github.com/minicloud/minicloud/internal/anomaly"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// The anomaly functions are analytic functions whose state is a detector per partition:
//
//	anomaly_spikedip(value, confidence, history[, mode])   mode 'spikes', 'dips', 'spikesanddips'
//	anomaly_changepoint(value, confidence, history)
//	anomaly_zscore(value, threshold, alpha)
//
// Each returns {"is_anomaly": bool, "score": float}, or null for a null or non-numeric value.
func init() {
	analyticFuncs["anomaly_spikedip"] = &analyticSpec{args: [2]int{3, 4}, consts: []int{1, 2, 3}, newState: newSpikeDip}
	analyticFuncs["anomaly_changepoint"] = &analyticSpec{args: [2]int{3, 3}, consts: []int{1, 2}, newState: newChangePoint}
	analyticFuncs["anomaly_zscore"] = &analyticSpec{args: [2]int{3, 3}, consts: []int{1, 2}, newState: newZScore}
}

func numParam(lits []any, i int, what string) (float64, error) {
	f, ok := value.Number(lits[i])
	if !ok {
		return 0, fmt.Errorf("the %s (argument %d) must be a number", what, i+1)
	}
	return f, nil
}

func intParam(lits []any, i int, what string) (int, error) {
	n, ok := value.Int(lits[i])
	if !ok {
		return 0, fmt.Errorf("the %s (argument %d) must be an integer", what, i+1)
	}
	return int(min(max(n, -1), 1<<30)), nil
}

func newSpikeDip(lits []any) (analyticState, error) {
	conf, err := numParam(lits, 1, "confidence")
	if err != nil {
		return nil, err
	}
	hist, err := intParam(lits, 2, "history size")
	if err != nil {
		return nil, err
	}
	mode := anomaly.SpikesAndDips
	if len(lits) > 3 {
		s, ok := lits[3].(string)
		if !ok {
			return nil, fmt.Errorf("the mode (argument 4) must be 'spikes', 'dips' or 'spikesanddips'")
		}
		if mode, err = anomaly.ParseMode(s); err != nil {
			return nil, err
		}
	}
	d, err := anomaly.NewSpikeDip(conf, hist, mode)
	if err != nil {
		return nil, err
	}
	return &detectorState{det: d}, nil
}

func newChangePoint(lits []any) (analyticState, error) {
	conf, err := numParam(lits, 1, "confidence")
	if err != nil {
		return nil, err
	}
	hist, err := intParam(lits, 2, "history size")
	if err != nil {
		return nil, err
	}
	d, err := anomaly.NewChangePoint(conf, hist)
	if err != nil {
		return nil, err
	}
	return &detectorState{det: d}, nil
}

func newZScore(lits []any) (analyticState, error) {
	thr, err := numParam(lits, 1, "threshold")
	if err != nil {
		return nil, err
	}
	alpha, err := numParam(lits, 2, "alpha")
	if err != nil {
		return nil, err
	}
	d, err := anomaly.NewZScore(thr, alpha)
	if err != nil {
		return nil, err
	}
	return &detectorState{det: d}, nil
}

// detectorState adapts a detector; when the WHEN condition fails it repeats its last answer.
type detectorState struct {
	det  anomaly.Detector
	last any
}

func (d *detectorState) update(args []any, valid bool) (any, error) {
	if !valid {
		return d.last, nil
	}
	x, ok := value.Number(args[0])
	if !ok {
		return nil, nil
	}
	r := d.det.Update(x)
	d.last = map[string]any{"is_anomaly": r.IsAnomaly, "score": r.Score}
	return d.last, nil
}

func (d *detectorState) save() (json.RawMessage, error) {
	det, err := d.det.Snapshot()
	if err != nil {
		return nil, err
	}
	last, err := value.Marshal(d.last)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct{ Detector, Last json.RawMessage }{det, last})
}

func (d *detectorState) load(data json.RawMessage) error {
	var st struct{ Detector, Last json.RawMessage }
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("restore detector: %w", err)
	}
	if err := d.det.Restore(st.Detector); err != nil {
		return err
	}
	last, err := value.Unmarshal(st.Last)
	d.last = last
	return err
}
