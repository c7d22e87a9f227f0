package rules

import (
	"encoding/json"
	"fmt"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	analyticFuncs["lag"] = &analyticSpec{args: [2]int{1, 4}, consts: []int{1}, newState: newLag}
	analyticFuncs["latest"] = &analyticSpec{args: [2]int{1, 2}, newState: func([]any) (analyticState, error) { return &latest{}, nil }}
	analyticFuncs["changed_col"] = &analyticSpec{args: [2]int{2, 2}, newState: func([]any) (analyticState, error) { return &changedCol{}, nil }}
	analyticFuncs["had_changed"] = &analyticSpec{args: [2]int{2, -1}, newState: func([]any) (analyticState, error) { return &hadChanged{}, nil }}
}

// lag(expr[, offset[, default[, ignoreNull]]]) returns the value of expr offset valid events ago
// (default when there are not that many), then remembers the current value unless the WHEN
// condition failed or, with ignoreNull, the value is null.
type lag struct {
	offset int
	Vals   []any
}

func newLag(lits []any) (analyticState, error) {
	off := int64(1)
	if len(lits) > 1 {
		n, ok := value.Int(lits[1])
		if !ok || !value.IsInt(lits[1]) || n < 1 || n > 1<<16 {
			return nil, fmt.Errorf("the offset must be an integer constant from 1 to 65536")
		}
		off = n
	}
	return &lag{offset: int(off)}, nil
}

func (l *lag) update(args []any, valid bool) (any, error) {
	var def any
	if len(args) > 2 {
		def = args[2]
	}
	ignoreNull := len(args) > 3 && value.Truthy(args[3])
	out := def
	if len(l.Vals) >= l.offset {
		out = l.Vals[len(l.Vals)-l.offset]
	}
	if valid && !(ignoreNull && args[0] == nil) {
		l.Vals = append(l.Vals, args[0])
		if len(l.Vals) > l.offset {
			l.Vals = append(l.Vals[:0], l.Vals[len(l.Vals)-l.offset:]...)
		}
	}
	return out, nil
}

func (l *lag) save() (json.RawMessage, error) { return value.Marshal(l.Vals) }

func (l *lag) load(data json.RawMessage) error {
	v, err := value.Unmarshal(data)
	l.Vals, _ = v.([]any)
	return err
}

// latest(expr[, default]) returns the newest non-null value of expr, this event's included.
type latest struct {
	Has bool
	V   any
}

func (l *latest) update(args []any, valid bool) (any, error) {
	if valid && args[0] != nil {
		l.Has, l.V = true, args[0]
	}
	if l.Has {
		return l.V, nil
	}
	if len(args) > 1 {
		return args[1], nil
	}
	return nil, nil
}

func (l *latest) save() (json.RawMessage, error) {
	return json.Marshal(struct {
		Has bool
		V   any
	}{l.Has, value.Encode(l.V)})
}

func (l *latest) load(data json.RawMessage) error {
	var st struct {
		Has bool
		V   json.RawMessage
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("latest: %w", err)
	}
	v, err := value.Unmarshal(st.V)
	l.Has, l.V = st.Has, v
	return err
}

// changed_col(ignoreNull, expr) returns expr when it differs from the last value seen, else null.
type changedCol struct {
	Has  bool
	Prev any
}

func (c *changedCol) update(args []any, valid bool) (any, error) {
	v := args[1]
	if !valid || (value.Truthy(args[0]) && v == nil) {
		return nil, nil
	}
	if c.Has && value.Equal(v, c.Prev) {
		return nil, nil
	}
	c.Has, c.Prev = true, v
	return v, nil
}

func (c *changedCol) save() (json.RawMessage, error) {
	return json.Marshal(struct {
		Has  bool
		Prev any
	}{c.Has, value.Encode(c.Prev)})
}

func (c *changedCol) load(data json.RawMessage) error {
	var st struct {
		Has  bool
		Prev json.RawMessage
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("changed_col: %w", err)
	}
	v, err := value.Unmarshal(st.Prev)
	c.Has, c.Prev = st.Has, v
	return err
}

// had_changed(ignoreNull, expr...) is true when any expr differs from its last value seen.
type hadChanged struct {
	Has  []bool
	Prev []any
}

func (h *hadChanged) update(args []any, valid bool) (any, error) {
	if !valid {
		return false, nil
	}
	ignoreNull := value.Truthy(args[0])
	vals := args[1:]
	if len(h.Prev) != len(vals) {
		h.Has, h.Prev = make([]bool, len(vals)), make([]any, len(vals))
	}
	changed := false
	for i, v := range vals {
		if ignoreNull && v == nil {
			continue
		}
		if !h.Has[i] || !value.Equal(v, h.Prev[i]) {
			changed = true
		}
		h.Has[i], h.Prev[i] = true, v
	}
	return changed, nil
}

func (h *hadChanged) save() (json.RawMessage, error) {
	prev, err := value.Marshal(h.Prev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Has  []bool
		Prev json.RawMessage
	}{h.Has, prev})
}

func (h *hadChanged) load(data json.RawMessage) error {
	var st struct {
		Has  []bool
		Prev json.RawMessage
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("had_changed: %w", err)
	}
	v, err := value.Unmarshal(st.Prev)
	h.Has = st.Has
	h.Prev, _ = v.([]any)
	if len(h.Prev) != len(h.Has) {
		h.Has, h.Prev = nil, nil
	}
	return err
}
