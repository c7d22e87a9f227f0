package rules

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// The fast encoder must write exactly what encoding/json writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	vals := []any{
		nil, "", "plain", "q\"b\\s/<>&\n\r\t\b\f\x01\x1f", "é ü 日本", "\u2028\u2029", "bad \xff utf8 \xc3",
		true, false, int64(-42), 7, 0.0, -0.0, 1.5, 1e-7, 1e21, 123456789.125, 1e20, -3.25e-9, math.MaxFloat64, math.SmallestNonzeroFloat64,
		map[string]any{"b": 1.0, "a": "x", "c": []any{1.0, "y", nil, map[string]any{"z": true}}},
		Row{"k": int64(1)}, []map[string]any{{"a": 1.0}, {"b": "c"}}, []map[string]any(nil), map[string]any(nil),
		time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), []byte("bytes"), []int{1, 2},
	}
	for _, v := range vals {
		want, werr := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%#v: got %s (%v), want %s (%v)", v, got, gerr, want, werr)
		}
	}
	if _, err := appendJSON(nil, map[string]any{"x": math.NaN()}); err == nil {
		t.Error("NaN encoded without error")
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("a<b>", 1.5, int64(3))
	f.Fuzz(func(t *testing.T, s string, x float64, n int64) {
		v := map[string]any{s: []any{s, x, n, map[string]any{"k": s}}}
		want, werr := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if (werr != nil) != (gerr != nil) || werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v), want %s (%v)", got, gerr, want, werr)
		}
	})
}

func BenchmarkRowJSON(b *testing.B) {
	row := map[string]any{"id": "k123", "t": 57.25, "sent": int64(1764057600123456789)}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(row) //nolint:errcheck
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		for b.Loop() {
			appendJSON(make([]byte, 0, 64), row) //nolint:errcheck
		}
	})
}
