package main

import (
	"github.com/minicloud/minicloud/internal/anomaly"
)

// The parameters, fixed once, on principle, for every series:
//
//   - history: 288 values, one day of NAB's most common 5-minute cadence; the EWMA of the z-score
//     gets the same memory, alpha = 2/(288+1).
//   - false-alarm level: 0.1% per value for all three. Spike/dip alerts when the kernel density
//     puts less than 0.1% of its mass beyond the value (confidence 99.9); change point when its
//     martingale reaches 1000 (confidence 99.9: by Ville's inequality a false alarm has at most a
//     0.1% chance per restart); z-score when |z| > 3.29, the two-sided 0.1% point of a normal.
//   - spike/dip watches both sides (spikesanddips).
const (
	history    = 288
	confidence = 99.9
)

var zThreshold = 3.29
var ewmaAlpha = 2.0 / (history + 1)

type detectorSpec struct {
	name   string
	params string
	make   func() anomaly.Detector
}

func detectors() []detectorSpec {
	return []detectorSpec{
		{"spikedip", "anomaly_spikedip(value, 99.9, 288, 'spikesanddips')", func() anomaly.Detector {
			d, _ := anomaly.NewSpikeDip(confidence, history, anomaly.SpikesAndDips)
			return d
		}},
		{"changepoint", "anomaly_changepoint(value, 99.9, 288)", func() anomaly.Detector {
			d, _ := anomaly.NewChangePoint(confidence, history)
			return d
		}},
		{"zscore", "anomaly_zscore(value, 3.29, 0.0069)", func() anomaly.Detector {
			d, _ := anomaly.NewZScore(zThreshold, ewmaAlpha)
			return d
		}},
	}
}
