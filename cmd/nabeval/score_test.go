package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/anomaly"
)

// scripted is a detector that alerts at given indexes.
type scripted struct {
	at map[int]bool
	i  int
}

func (s *scripted) Update(float64) anomaly.Result {
	s.i++
	return anomaly.Result{IsAnomaly: s.at[s.i-1]}
}
func (s *scripted) Snapshot() ([]byte, error) { return nil, nil }
func (s *scripted) Restore([]byte) error      { return nil }

func synthetic(n int, windows ...[2]int) *series {
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &series{name: "syn"}
	for i := 0; i < n; i++ {
		s.times = append(s.times, t0.Add(time.Duration(i)*time.Hour))
		s.values = append(s.values, 0)
	}
	for _, w := range windows {
		s.windows = append(s.windows, window{s.times[w[0]], s.times[w[1]]})
	}
	return s
}

func TestScore(t *testing.T) {
	// 100 hourly values; warm-up ends at hour 14.85; windows [40,50] and [70,80]; suppression is
	// the median window length, 10 h.
	s := synthetic(100, [2]int{40, 50}, [2]int{70, 80})
	alerts := map[int]bool{5: true, 20: true, 25: true, 31: true, 44: true, 46: true, 55: true, 90: true}
	r := score(detectorSpec{make: func() anomaly.Detector { return &scripted{at: alerts} }}, s)
	// 5: warm-up. 20: FP. 25: suppressed. 31: FP. 44: TP, delay 4 h. 46: suppressed. 55: FP
	// (outside, 11 h after 44). 90: FP. Window [70,80] missed.
	if r.tp != 1 || r.fp != 4 || r.windows != 2 || r.detected != 1 {
		t.Fatalf("got %+v", r)
	}
	if len(r.delays) != 1 || r.delays[0] != 4*time.Hour || r.relDelays[0] != 0.4 {
		t.Fatalf("delays %v %v", r.delays, r.relDelays)
	}
	if p, rc := r.precision(), r.recall(); p != 0.2 || rc != 0.5 {
		t.Fatalf("precision %v recall %v", p, rc)
	}
}

func TestRunOnTinyCorpus(t *testing.T) {
	dir := t.TempDir()
	csv := "timestamp,value\n"
	for i := 0; i < 600; i++ {
		v := "1"
		if i == 500 {
			v = "50"
		}
		csv += time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05") + "," + v + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := `{"a.csv": [["2014-01-02 17:00:00.000000", "2014-01-02 18:30:00.000000"]]}`
	if err := os.WriteFile(filepath.Join(dir, "labels_windows.json"), []byte(labels), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-data", dir, "-detector", "spikedip"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "spikedip         1     1     1     0   1.00   1.00   1.00") {
		t.Fatalf("output:\n%s", out.String())
	}
}
