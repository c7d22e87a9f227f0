package anomaly

import (
	"math"
)

// tails returns the probability mass above and below x of an adaptive Gaussian kernel density
// estimate over the sorted sample s (at least two values). scratch is reused between calls.
//
// The pilot bandwidth is Silverman's rule, 0.9·min(σ, IQR/1.34)·n^(-1/5). Each sample point then
// gets its own bandwidth, scaled by sqrt(d_i / g), where d_i is the distance to its k-th nearest
// neighbour (k = √n) and g their geometric mean: Abramson's square-root law with a k-NN pilot
// density. Points in sparse regions spread wider, points in a dense cluster stay sharp, so a value
// just outside a tight cluster is unlikely while a value amid scattered history is not.
func tails(s []float64, x float64, scratch *[]float64) (above, below float64) {
	n := len(s)
	b := silverman(s)
	k := int(math.Ceil(math.Sqrt(float64(n))))
	k = min(max(k, 1), n-1)
	floor := b / 100
	logSum := 0.0
	if cap(*scratch) < n {
		*scratch = make([]float64, n)
	}
	d := (*scratch)[:n]
	for i := range s {
		d[i] = max(kthNeighbourDist(s, i, k), floor)
		logSum += math.Log(d[i])
	}
	g := math.Exp(logSum / float64(n))
	for i, si := range s {
		lambda := min(max(math.Sqrt(d[i]/g), 0.1), 10)
		z := (x - si) / (b * lambda)
		up := 0.5 * math.Erfc(z/math.Sqrt2)
		above += up
		below += 1 - up
	}
	return above / float64(n), below / float64(n)
}

// silverman is the pilot bandwidth, never zero: a constant history gets a bandwidth of a
// billionth of its magnitude, so that any departure from the constant is very unlikely.
func silverman(s []float64) float64 {
	n := float64(len(s))
	mean, m2 := 0.0, 0.0
	for i, v := range s {
		d := v - mean
		mean += d / float64(i+1)
		m2 += d * (v - mean)
	}
	sd := math.Sqrt(m2 / n)
	iqr := quantileSorted(s, 0.75) - quantileSorted(s, 0.25)
	spread := sd
	if iqr > 0 && iqr/1.34 < sd {
		spread = iqr / 1.34
	}
	b := 0.9 * spread * math.Pow(n, -0.2)
	return max(b, 1e-9*max(1, math.Abs(mean)))
}

func quantileSorted(s []float64, p float64) float64 {
	pos := p * float64(len(s)-1)
	lo := int(pos)
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// kthNeighbourDist is the distance from s[i] to its k-th nearest other point of the sorted s,
// found by walking outwards from i.
func kthNeighbourDist(s []float64, i, k int) float64 {
	l, r := i-1, i+1
	var d float64
	for j := 0; j < k; j++ {
		switch {
		case l < 0:
			d = s[r] - s[i]
			r++
		case r >= len(s):
			d = s[i] - s[l]
			l--
		case s[i]-s[l] <= s[r]-s[i]:
			d = s[i] - s[l]
			l--
		default:
			d = s[r] - s[i]
			r++
		}
	}
	return d
}
