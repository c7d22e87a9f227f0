package anomaly

import (
	"math/rand/v2"
	"testing"
)

// noise returns n values of Gaussian noise around level, from a fixed seed.
func noise(seed uint64, n int, level, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = level + sd*r.NormFloat64()
	}
	return out
}

func alarms(d Detector, xs []float64) []int {
	var at []int
	for i, x := range xs {
		if d.Update(x).IsAnomaly {
			at = append(at, i)
		}
	}
	return at
}

func TestSpikeDipFindsSpikeNotNoise(t *testing.T) {
	xs := noise(1, 600, 10, 1)
	xs[400] = 20 // a ten-sigma spike
	xs[500] = 0  // a ten-sigma dip
	d, err := NewSpikeDip(99.9, 200, SpikesAndDips)
	if err != nil {
		t.Fatal(err)
	}
	got := alarms(d, xs)
	if len(got) != 2 || got[0] != 400 || got[1] != 500 {
		t.Fatalf("alarms at %v, want [400 500]", got)
	}
	spikes, _ := NewSpikeDip(99.9, 200, Spikes)
	if got := alarms(spikes, xs); len(got) != 1 || got[0] != 400 {
		t.Fatalf("spikes-only alarms at %v, want [400]", got)
	}
}

func TestSpikeDipConstantHistory(t *testing.T) {
	d, _ := NewSpikeDip(95, 16, SpikesAndDips)
	for i := 0; i < 20; i++ {
		if d.Update(5).IsAnomaly {
			t.Fatal("constant flagged")
		}
	}
	if r := d.Update(5.1); !r.IsAnomaly || r.Score < 0.999 {
		t.Fatalf("departure from a constant: %+v", r)
	}
}

func TestChangePointFindsLevelShiftOnce(t *testing.T) {
	xs := append(noise(2, 500, 10, 1), noise(3, 500, 16, 1)...)
	d, err := NewChangePoint(99, 200)
	if err != nil {
		t.Fatal(err)
	}
	got := alarms(d, xs)
	if len(got) != 1 || got[0] < 500 || got[0] > 505 {
		t.Fatalf("alarms at %v, want one just after 500", got)
	}
}

func TestChangePointIgnoresSpike(t *testing.T) {
	xs := noise(4, 800, 10, 1)
	xs[600] = 30
	d, _ := NewChangePoint(99, 200)
	if got := alarms(d, xs); len(got) != 0 {
		t.Fatalf("alarms at %v on noise with one spike", got)
	}
}

func TestZScore(t *testing.T) {
	xs := noise(5, 2000, 50, 2)
	xs[1500] = 80
	d, err := NewZScore(5, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if got := alarms(d, xs); len(got) != 1 || got[0] != 1500 {
		t.Fatalf("alarms at %v, want [1500]", got)
	}
}

func TestNoAlarmsOnNoise(t *testing.T) {
	xs := noise(6, 3000, 0, 1)
	sd, _ := NewSpikeDip(99.99, 300, SpikesAndDips)
	cp, _ := NewChangePoint(99.9, 300)
	zs, _ := NewZScore(4.5, 0.005)
	for name, d := range map[string]Detector{"spikedip": sd, "changepoint": cp, "zscore": zs} {
		if got := alarms(d, xs); len(got) > 1 {
			t.Errorf("%s: %d alarms on pure noise: %v", name, len(got), got)
		}
	}
}

// TestSnapshotResumes checks that a detector restored from a snapshot answers exactly as the one
// that kept running.
func TestSnapshotResumes(t *testing.T) {
	xs := append(noise(7, 400, 3, 0.5), noise(8, 200, 6, 0.5)...)
	xs[250] = 12
	mk := map[string]func() Detector{
		"spikedip":    func() Detector { d, _ := NewSpikeDip(99, 100, SpikesAndDips); return d },
		"changepoint": func() Detector { d, _ := NewChangePoint(99, 100); return d },
		"zscore":      func() Detector { d, _ := NewZScore(3, 0.05); return d },
	}
	for name, newDet := range mk {
		a, b := newDet(), newDet()
		for i, x := range xs {
			if i == 300 {
				data, err := b.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b = newDet()
				if err := b.Restore(data); err != nil {
					t.Fatal(err)
				}
			}
			if ra, rb := a.Update(x), b.Update(x); ra != rb {
				t.Fatalf("%s: at %d got %+v after restore, want %+v", name, i, rb, ra)
			}
		}
	}
}

func TestBadParameters(t *testing.T) {
	if _, err := NewSpikeDip(100, 100, Spikes); err == nil {
		t.Error("confidence 100 accepted")
	}
	if _, err := NewChangePoint(95, 2); err == nil {
		t.Error("history 2 accepted")
	}
	if _, err := NewZScore(3, 1); err == nil {
		t.Error("alpha 1 accepted")
	}
	if _, err := ParseMode("peaks"); err == nil {
		t.Error("mode peaks accepted")
	}
}
