package value

import (
	"bytes"
	"strings"
	"time"
)

// Compare orders a and b: numbers numerically (1 == 1.0), strings, booleans (false < true),
// datetimes and byte strings. ok is false when the two cannot be ordered (different kinds, nil).
func Compare(a, b any) (c int, ok bool) {
	if x, ok := Number(a); ok {
		y, ok := Number(b)
		if !ok {
			return 0, false
		}
		if IsInt(a) && IsInt(b) {
			i, _ := Int(a)
			j, _ := Int(b)
			return cmp3(i < j, i > j), true
		}
		return cmp3(x < y, x > y), true
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	case bool:
		y, ok := b.(bool)
		return cmp3(!x && y, x && !y), ok
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	case []byte:
		y, ok := b.([]byte)
		return bytes.Compare(x, y), ok
	}
	return 0, false
}

func cmp3(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

// Equal is deep equality with numbers compared by value; nil equals only nil. The SQL '=' operator
// treats nil specially before calling it.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if c, ok := Compare(a, b); ok {
		return c == 0
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}
