package agg

import (
	"math"
	"testing"
)

func run(t *testing.T, name string, params []any, vals ...any) any {
	t.Helper()
	s, ok := Lookup(name)
	if !ok {
		t.Fatalf("no aggregate %s", name)
	}
	a, err := s.New(params)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if err := a.Add([]any{v, map[string]any{"v": v}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every aggregate must survive a checkpoint mid-way unchanged.
	data, err := a.Save()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.New(params)
	if err := b.Load(data); err != nil {
		t.Fatalf("%s load: %v", name, err)
	}
	return b.Result()
}

func TestAggregates(t *testing.T) {
	near := func(a any, b float64) bool { f, ok := a.(float64); return ok && math.Abs(f-b) < 1e-9 }
	if got := run(t, "count", nil, 1.0, nil, 2.0); got != int64(2) {
		t.Errorf("count = %v", got)
	}
	if got := run(t, "sum", nil, int64(1), int64(2)); got != int64(3) {
		t.Errorf("int sum = %v", got)
	}
	if got := run(t, "sum", nil, int64(1), 2.5); !near(got, 3.5) {
		t.Errorf("mixed sum = %v", got)
	}
	if got := run(t, "avg", nil, 1.0, 2.0, nil, 6.0); !near(got, 3) {
		t.Errorf("avg = %v", got)
	}
	if got := run(t, "max", nil, 1.0, int64(7), 3.0); got != int64(7) {
		t.Errorf("max = %v", got)
	}
	if got := run(t, "min", nil, "b", "a", "c"); got != "a" {
		t.Errorf("min = %v", got)
	}
	vals := []any{2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}
	if got := run(t, "stddev", nil, vals...); !near(got, 2) {
		t.Errorf("stddev = %v", got)
	}
	if got := run(t, "vars", nil, vals...); !near(got, 32.0/7) {
		t.Errorf("vars = %v", got)
	}
	if got := run(t, "median", nil, 3.0, 1.0, 2.0, 10.0); !near(got, 2.5) {
		t.Errorf("median = %v", got)
	}
	if got := run(t, "percentile_disc", []any{0.5}, 3.0, 1.0, 2.0, 10.0); !near(got, 2) {
		t.Errorf("percentile_disc = %v", got)
	}
	if got := run(t, "percentile_cont", []any{0.9}, 1.0, 2.0, 3.0, 4.0, 5.0); !near(got, 4.6) {
		t.Errorf("percentile_cont = %v", got)
	}
	if got := run(t, "collect", nil, 1.0, "a"); len(got.([]any)) != 2 {
		t.Errorf("collect = %v", got)
	}
	if got := run(t, "deduplicate", []any{true}, 1.0, 2.0, 1.0); len(got.([]any)) != 2 {
		t.Errorf("deduplicate all = %v", got)
	}
	if got := run(t, "deduplicate", []any{false}, 1.0, 2.0, 1.0); len(got.(map[string]any)) != 0 {
		t.Errorf("deduplicate latest dup = %v", got)
	}
	if _, err := specs["percentile"].New([]any{1.5}); err == nil {
		t.Error("percentile 1.5 accepted")
	}
}
