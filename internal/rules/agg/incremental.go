package agg

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	define(&Spec{Name: "count", Args: [2]int{1, 1}, Wildcard: true, Incremental: true,
		New: func([]any) (Agg, error) { return &count{}, nil }})
	define(&Spec{Name: "sum", Args: [2]int{1, 1}, Incremental: true,
		New: func([]any) (Agg, error) { return &sum{}, nil }})
	define(&Spec{Name: "avg", Args: [2]int{1, 1}, Incremental: true,
		New: func([]any) (Agg, error) { return &avg{}, nil }})
	define(&Spec{Name: "min", Args: [2]int{1, 1}, Incremental: true,
		New: func([]any) (Agg, error) { return &extreme{Sign: -1}, nil }})
	define(&Spec{Name: "max", Args: [2]int{1, 1}, Incremental: true,
		New: func([]any) (Agg, error) { return &extreme{Sign: 1}, nil }})
	for name, m := range map[string]momentKind{"stddev": stddevPop, "stddevs": stddevSample, "var": varPop, "vars": varSample} {
		define(&Spec{Name: name, Args: [2]int{1, 1}, Incremental: true,
			New: func([]any) (Agg, error) { return &moments{Kind: m}, nil }})
	}
}

// count counts non-null values; count(*) receives the row, which is never null.
type count struct{ N int64 }

func (c *count) Add(a []any) error {
	if a[0] != nil {
		c.N++
	}
	return nil
}
func (c *count) Result() any                     { return c.N }
func (c *count) Save() (json.RawMessage, error)  { return save(c) }
func (c *count) Load(data json.RawMessage) error { return load(data, c) }

// sum stays an integer while every value is one, as SQL's sum over bigint.
type sum struct {
	Seen  bool
	Float bool
	I     int64
	F     float64
}

func (s *sum) Add(a []any) error {
	v := a[0]
	if v == nil {
		return nil
	}
	if value.IsInt(v) && !s.Float {
		n, _ := value.Int(v)
		s.I += n
		s.Seen = true
		return nil
	}
	f, ok := value.Number(v)
	if !ok {
		return fmt.Errorf("sum: cannot add %s", value.TypeName(v))
	}
	if !s.Float {
		s.Float, s.F = true, float64(s.I)
	}
	s.F += f
	s.Seen = true
	return nil
}

func (s *sum) Result() any {
	switch {
	case !s.Seen:
		return nil
	case s.Float:
		return s.F
	}
	return s.I
}
func (s *sum) Save() (json.RawMessage, error)  { return save(s) }
func (s *sum) Load(data json.RawMessage) error { return load(data, s) }

type avg struct {
	N   int64
	Sum float64
}

func (s *avg) Add(a []any) error {
	if a[0] == nil {
		return nil
	}
	f, ok := value.Number(a[0])
	if !ok {
		return fmt.Errorf("avg: cannot average %s", value.TypeName(a[0]))
	}
	s.N++
	s.Sum += f
	return nil
}

func (s *avg) Result() any {
	if s.N == 0 {
		return nil
	}
	return s.Sum / float64(s.N)
}
func (s *avg) Save() (json.RawMessage, error)  { return save(s) }
func (s *avg) Load(data json.RawMessage) error { return load(data, s) }

// extreme is min (Sign -1) or max (Sign 1) over any ordered values.
type extreme struct {
	Sign int
	V    any
}

func (e *extreme) Add(a []any) error {
	v := a[0]
	if v == nil {
		return nil
	}
	if e.V == nil {
		e.V = v
		return nil
	}
	c, ok := value.Compare(v, e.V)
	if !ok {
		return fmt.Errorf("cannot compare %s with %s", value.TypeName(v), value.TypeName(e.V))
	}
	if c*e.Sign > 0 {
		e.V = v
	}
	return nil
}
func (e *extreme) Result() any { return e.V }

func (e *extreme) Save() (json.RawMessage, error) {
	return save(struct {
		Sign int
		V    any
	}{e.Sign, value.Encode(e.V)})
}

func (e *extreme) Load(data json.RawMessage) error {
	var st struct {
		Sign int
		V    json.RawMessage
	}
	if err := load(data, &st); err != nil {
		return err
	}
	v, err := value.Unmarshal(st.V)
	e.Sign, e.V = st.Sign, v
	return err
}

type momentKind int

const (
	stddevPop momentKind = iota
	stddevSample
	varPop
	varSample
)

// moments keeps count, mean and the sum of squared deviations (Welford's update), which is
// numerically stable where sum-of-squares is not.
type moments struct {
	Kind momentKind
	N    int64
	Mean float64
	M2   float64
}

func (m *moments) Add(a []any) error {
	if a[0] == nil {
		return nil
	}
	x, ok := value.Number(a[0])
	if !ok {
		return fmt.Errorf("cannot take the variance of %s", value.TypeName(a[0]))
	}
	m.N++
	d := x - m.Mean
	m.Mean += d / float64(m.N)
	m.M2 += d * (x - m.Mean)
	return nil
}

func (m *moments) Result() any {
	sample := m.Kind == stddevSample || m.Kind == varSample
	if m.N == 0 || (sample && m.N < 2) {
		return nil
	}
	n := float64(m.N)
	if sample {
		n--
	}
	v := max(m.M2/n, 0)
	if m.Kind == stddevPop || m.Kind == stddevSample {
		return math.Sqrt(v)
	}
	return v
}
func (m *moments) Save() (json.RawMessage, error)  { return save(m) }
func (m *moments) Load(data json.RawMessage) error { return load(data, m) }
