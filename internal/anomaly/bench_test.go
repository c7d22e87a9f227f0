package anomaly

import "testing"

func benchDetector(b *testing.B, d Detector) {
	xs := noise(9, 4096, 20, 3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Update(xs[i%len(xs)])
	}
}

func BenchmarkSpikeDip120(b *testing.B) {
	d, _ := NewSpikeDip(99, 120, SpikesAndDips)
	benchDetector(b, d)
}

func BenchmarkSpikeDip288(b *testing.B) {
	d, _ := NewSpikeDip(99.9, 288, SpikesAndDips)
	benchDetector(b, d)
}

func BenchmarkChangePoint288(b *testing.B) {
	d, _ := NewChangePoint(99.9, 288)
	benchDetector(b, d)
}

func BenchmarkZScore(b *testing.B) {
	d, _ := NewZScore(3.29, 0.007)
	benchDetector(b, d)
}
