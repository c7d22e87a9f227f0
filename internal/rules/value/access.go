package value

import (
	"fmt"
	"strconv"
	"strings"
)

// Field returns m[name] when v is a JSON object, nil otherwise (a missing path is null, not an
// error, as payloads vary).
func Field(v any, name string) any {
	if m, ok := v.(map[string]any); ok {
		return m[name]
	}
	return nil
}

// Index returns the i-th element of an array (negative counts from the end) or, for an object and
// a string index, that key. Out of range is nil.
func Index(v, i any) (any, error) {
	if v == nil || i == nil {
		return nil, nil
	}
	if m, ok := v.(map[string]any); ok {
		if k, ok := i.(string); ok {
			return m[k], nil
		}
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("cannot index %s", TypeName(v))
	}
	n, ok := Int(i)
	if !ok {
		return nil, fmt.Errorf("array index must be an integer, got %s", TypeName(i))
	}
	if n < 0 {
		n += int64(len(arr))
	}
	if n < 0 || n >= int64(len(arr)) {
		return nil, nil
	}
	return arr[n], nil
}

// Slice returns arr[lo:hi) with negative bounds counting from the end; nil bounds mean the ends.
func Slice(v, lo, hi any) (any, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("cannot slice %s", TypeName(v))
	}
	l, err := bound(lo, 0, len(arr))
	if err != nil {
		return nil, err
	}
	h, err := bound(hi, len(arr), len(arr))
	if err != nil {
		return nil, err
	}
	if l >= h {
		return []any{}, nil
	}
	return arr[l:h], nil
}

func bound(b any, def, n int) (int, error) {
	if b == nil {
		return def, nil
	}
	i, ok := Int(b)
	if !ok {
		return 0, fmt.Errorf("slice bound must be an integer, got %s", TypeName(b))
	}
	if i < 0 {
		i += int64(n)
	}
	return int(max(0, min(i, int64(n)))), nil
}

// Key turns a value into a comparable map key such that Equal values give equal keys: numbers are
// keyed by their float64 value, arrays and objects by a canonical text.
func Key(v any) any {
	switch x := v.(type) {
	case nil, string, bool:
		return v
	case float64:
		return x
	}
	if f, ok := Number(v); ok {
		return f
	}
	var b strings.Builder
	writeKey(&b, v)
	return b.String()
}

// Keys combines several values into one comparable key.
func Keys(vs []any) any {
	if len(vs) == 1 {
		return Key(vs[0])
	}
	var b strings.Builder
	for _, v := range vs {
		writeKey(&b, v)
		b.WriteByte(0)
	}
	return b.String()
}

// writeKey writes a canonical, type-tagged text so that "1" (string) and 1 (number) differ.
func writeKey(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("n")
	case string:
		b.WriteString("s")
		b.WriteString(strconv.Quote(x))
	case bool:
		b.WriteString("b" + strconv.FormatBool(x))
	case []any:
		b.WriteString("[")
		for _, e := range x {
			writeKey(b, e)
			b.WriteString(",")
		}
		b.WriteString("]")
	case map[string]any:
		keys := SortedKeys(x)
		b.WriteString("{")
		for _, k := range keys {
			b.WriteString(strconv.Quote(k) + ":")
			writeKey(b, x[k])
			b.WriteString(",")
		}
		b.WriteString("}")
	default:
		if f, ok := Number(v); ok {
			b.WriteString("f" + strconv.FormatFloat(f, 'g', -1, 64))
			return
		}
		fmt.Fprintf(b, "o%v", v)
	}
}
