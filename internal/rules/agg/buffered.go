package agg

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	define(&Spec{Name: "median", Args: [2]int{1, 1},
		New: func([]any) (Agg, error) { return &quantile{P: 0.5, Cont: true}, nil }})
	for _, n := range []string{"percentile", "percentile_cont"} {
		define(&Spec{Name: n, Args: [2]int{2, 2}, Params: 1, New: newQuantile(n, true)})
	}
	define(&Spec{Name: "percentile_disc", Args: [2]int{2, 2}, Params: 1, New: newQuantile("percentile_disc", false)})
	define(&Spec{Name: "collect", Args: [2]int{1, 1}, Wildcard: true,
		New: func([]any) (Agg, error) { return &collect{}, nil }})
	define(&Spec{Name: "deduplicate", Args: [2]int{2, 2}, Params: 1, New: newDedup})
}

func newQuantile(name string, cont bool) func([]any) (Agg, error) {
	return func(params []any) (Agg, error) {
		p, ok := value.Number(params[0])
		if !ok || p < 0 || p > 1 || math.IsNaN(p) {
			return nil, fmt.Errorf("%s: the percentile must be a constant from 0.0 to 1.0", name)
		}
		return &quantile{P: p, Cont: cont}, nil
	}
}

// quantile buffers the numbers of the group; Cont interpolates linearly between the two nearest
// ranks (percentile_cont), otherwise it returns the first value whose cumulative share reaches P.
type quantile struct {
	P    float64
	Cont bool
	Vals []float64
}

func (q *quantile) Add(a []any) error {
	if a[0] == nil {
		return nil
	}
	f, ok := value.Number(a[0])
	if !ok {
		return fmt.Errorf("cannot take a percentile of %s", value.TypeName(a[0]))
	}
	q.Vals = append(q.Vals, f)
	return nil
}

func (q *quantile) Result() any {
	n := len(q.Vals)
	if n == 0 {
		return nil
	}
	v := append([]float64(nil), q.Vals...)
	sort.Float64s(v)
	if !q.Cont {
		i := int(math.Ceil(q.P*float64(n))) - 1
		return v[max(0, min(i, n-1))]
	}
	pos := q.P * float64(n-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, n-1)
	return v[lo] + (pos-float64(lo))*(v[hi]-v[lo])
}
func (q *quantile) Save() (json.RawMessage, error)  { return save(q) }
func (q *quantile) Load(data json.RawMessage) error { return load(data, q) }

// collect gathers values (or whole rows for collect(*)) in arrival order.
type collect struct{ Vals []any }

func (c *collect) Add(a []any) error {
	c.Vals = append(c.Vals, a[0])
	return nil
}

func (c *collect) Result() any {
	if c.Vals == nil {
		return []any{}
	}
	return append([]any(nil), c.Vals...)
}
func (c *collect) Save() (json.RawMessage, error) { return value.Marshal(c.Vals) }

func (c *collect) Load(data json.RawMessage) error {
	v, err := value.Unmarshal(data)
	if err != nil {
		return err
	}
	c.Vals, _ = v.([]any)
	return nil
}

func newDedup(params []any) (Agg, error) {
	all, ok := params[0].(bool)
	if !ok {
		return nil, fmt.Errorf("deduplicate: the second argument must be the constant true or false")
	}
	return &dedup{All: all}, nil
}

// dedup is deduplicate(key, all): with all, the rows with a key not seen before in the group;
// otherwise the latest row if its key is new, else an empty object (as eKuiper).
type dedup struct {
	All    bool
	Rows   []any
	seen   map[any]bool
	last   any
	lastOK bool
}

// Add receives the key and then the row.
func (d *dedup) Add(a []any) error {
	if d.seen == nil {
		d.seen = map[any]bool{}
	}
	k := value.Key(a[0])
	d.lastOK = !d.seen[k]
	d.last = a[1]
	if d.lastOK {
		d.seen[k] = true
		d.Rows = append(d.Rows, a[1])
	}
	return nil
}

func (d *dedup) Result() any {
	if d.All {
		return append([]any{}, d.Rows...)
	}
	if d.lastOK {
		return d.last
	}
	return map[string]any{}
}

type dedupState struct {
	All    bool
	Rows   json.RawMessage
	Keys   json.RawMessage
	Last   json.RawMessage
	LastOK bool
}

func (d *dedup) Save() (json.RawMessage, error) {
	keys := make([]any, 0, len(d.seen))
	for k := range d.seen {
		keys = append(keys, k)
	}
	st := dedupState{All: d.All, LastOK: d.lastOK}
	var err error
	if st.Rows, err = value.Marshal(d.Rows); err != nil {
		return nil, err
	}
	if st.Keys, err = value.Marshal(keys); err != nil {
		return nil, err
	}
	if st.Last, err = value.Marshal(d.last); err != nil {
		return nil, err
	}
	return save(st)
}

func (d *dedup) Load(data json.RawMessage) error {
	var st dedupState
	if err := load(data, &st); err != nil {
		return err
	}
	rows, err := value.Unmarshal(st.Rows)
	if err != nil {
		return err
	}
	keys, err := value.Unmarshal(st.Keys)
	if err != nil {
		return err
	}
	last, err := value.Unmarshal(st.Last)
	if err != nil {
		return err
	}
	d.All, d.lastOK, d.last = st.All, st.LastOK, last
	d.Rows, _ = rows.([]any)
	d.seen = map[any]bool{}
	ks, _ := keys.([]any)
	for _, k := range ks {
		d.seen[k] = true
	}
	return nil
}
