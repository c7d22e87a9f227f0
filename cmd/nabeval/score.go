package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"
)

const scoringRules = `Scoring: the first 15% of each series is a warm-up (NAB's probationary period): detectors learn
but their alerts are not counted, nor are windows that end inside it. After a counted alert, alerts
within one window length are suppressed (the series' median window length; 10% of the series for a
series without windows, NAB's window size for one anomaly). An alert inside a window is a true
positive (the first one detects the window; its delay is from the window start), outside every
window a false positive; a window without an alert is a miss. Precision = TP alerts / alerts,
recall = detected windows / windows, F1 their harmonic mean; totals are summed over all series.`

// result is one detector on one series.
type result struct {
	tp, fp, windows, detected int
	delays                    []time.Duration // per detected window
	relDelays                 []float64       // delay as a share of the window length
}

// total is one detector over the corpus.
type total struct {
	name, params string
	result
	noAnomalyFP int // false positives on series without windows
	seconds     float64
}

func (r result) precision() float64 { return ratio(r.tp, r.tp+r.fp) }
func (r result) recall() float64    { return ratio(r.detected, r.windows) }
func (r result) f1() float64 {
	p, rc := r.precision(), r.recall()
	if math.IsNaN(p) || math.IsNaN(rc) || p+rc == 0 {
		return math.NaN()
	}
	return 2 * p * rc / (p + rc)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// score runs a fresh detector over the series and scores its alerts.
func score(d detectorSpec, s *series) result {
	det := d.make()
	warmEnd := s.times[0].Add(time.Duration(0.15 * float64(s.times[len(s.times)-1].Sub(s.times[0]))))
	gap := suppression(s)
	var r result
	counted := make([]bool, len(s.windows))
	for _, w := range s.windows {
		if w.end.After(warmEnd) {
			r.windows++
		}
	}
	var last time.Time
	for i, v := range s.values {
		t := s.times[i]
		if !det.Update(v).IsAnomaly || t.Before(warmEnd) || (!last.IsZero() && t.Sub(last) < gap) {
			continue
		}
		last = t
		w := windowAt(s.windows, t)
		if w < 0 {
			r.fp++
			continue
		}
		r.tp++
		if !counted[w] {
			counted[w] = true
			r.detected++
			d := t.Sub(s.windows[w].start)
			r.delays = append(r.delays, d)
			r.relDelays = append(r.relDelays, float64(d)/float64(s.windows[w].end.Sub(s.windows[w].start)))
		}
	}
	return r
}

func windowAt(ws []window, t time.Time) int {
	for i, w := range ws {
		if !t.Before(w.start) && !t.After(w.end) {
			return i
		}
	}
	return -1
}

// suppression is the series' median window length, or 10% of its span without windows.
func suppression(s *series) time.Duration {
	if len(s.windows) == 0 {
		return s.times[len(s.times)-1].Sub(s.times[0]) / 10
	}
	ls := make([]time.Duration, len(s.windows))
	for i, w := range s.windows {
		ls[i] = w.end.Sub(w.start)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	return ls[len(ls)/2]
}

func evaluate(d detectorSpec, corpus []*series, out io.Writer, perSeries bool) (total, error) {
	t := total{name: d.name, params: d.params}
	start := time.Now()
	if perSeries {
		fmt.Fprintf(out, "\n## %s: %s\n\n", d.name, d.params)
		fmt.Fprintf(out, "%-58s %4s %4s %4s %4s %6s %6s %6s %9s\n", "series", "win", "det", "TP", "FP", "prec", "recall", "F1", "delay(h)")
	}
	for _, s := range corpus {
		r := score(d, s)
		t.tp, t.fp, t.windows, t.detected = t.tp+r.tp, t.fp+r.fp, t.windows+r.windows, t.detected+r.detected
		t.delays = append(t.delays, r.delays...)
		t.relDelays = append(t.relDelays, r.relDelays...)
		if len(s.windows) == 0 {
			t.noAnomalyFP += r.fp
		}
		if perSeries {
			fmt.Fprintf(out, "%-58s %4d %4d %4d %4d %6s %6s %6s %9s\n", s.name, r.windows, r.detected, r.tp, r.fp,
				pct(r.precision()), pct(r.recall()), pct(r.f1()), hours(median(r.delays)))
		}
	}
	t.seconds = time.Since(start).Seconds()
	return t, nil
}

func printSummary(out io.Writer, ts []total) {
	fmt.Fprintf(out, "\n## Overall (summed over all series)\n\n")
	fmt.Fprintf(out, "%-12s %5s %5s %5s %5s %6s %6s %6s %15s %15s %14s\n", "detector", "win", "det", "TP", "FP", "prec", "recall", "F1", "median delay h", "median delay %", "FP no-anomaly")
	for _, t := range ts {
		fmt.Fprintf(out, "%-12s %5d %5d %5d %5d %6s %6s %6s %15s %15s %14d\n", t.name, t.windows, t.detected, t.tp, t.fp,
			pct(t.precision()), pct(t.recall()), pct(t.f1()), hours(median(t.delays)), pct(medianF(t.relDelays)), t.noAnomalyFP)
	}
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.2f", f)
}

func hours(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", d.Hours())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianF(fs []float64) float64 {
	if len(fs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
