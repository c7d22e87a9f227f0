package value

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Tagged JSON forms for the types plain JSON would lose in a snapshot.
const (
	tagInt   = "$int"
	tagTime  = "$time"
	tagBytes = "$bytes"
)

// Encode turns v into a value that encoding/json writes losslessly: int64, time.Time and []byte
// become one-key objects ({"$int":"12"}) that Decode turns back.
func Encode(v any) any {
	switch x := v.(type) {
	case int64:
		return map[string]any{tagInt: fmt.Sprint(x)}
	case int:
		return map[string]any{tagInt: fmt.Sprint(x)}
	case time.Time:
		return map[string]any{tagTime: x.UTC().Format(time.RFC3339Nano)}
	case []byte:
		return map[string]any{tagBytes: base64.StdEncoding.EncodeToString(x)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Encode(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Encode(e)
		}
		return out
	}
	return v
}

// Decode reverses Encode on a value read with json.Decoder.UseNumber (or plain float64s).
func Decode(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case []any:
		for i, e := range x {
			d, err := Decode(e)
			if err != nil {
				return nil, err
			}
			x[i] = d
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			if d, ok, err := decodeTagged(x); ok || err != nil {
				return d, err
			}
		}
		for k, e := range x {
			d, err := Decode(e)
			if err != nil {
				return nil, err
			}
			x[k] = d
		}
		return x, nil
	}
	return v, nil
}

func decodeTagged(m map[string]any) (any, bool, error) {
	for k, e := range m {
		s, isStr := e.(string)
		if !isStr {
			return nil, false, nil
		}
		switch k {
		case tagInt:
			var n int64
			_, err := fmt.Sscan(s, &n)
			return n, true, err
		case tagTime:
			t, err := time.Parse(time.RFC3339Nano, s)
			return t, true, err
		case tagBytes:
			b, err := base64.StdEncoding.DecodeString(s)
			return b, true, err
		}
	}
	return nil, false, nil
}

// Marshal encodes v with Encode's tags.
func Marshal(v any) (json.RawMessage, error) { return json.Marshal(Encode(v)) }

// Unmarshal decodes what Marshal wrote.
func Unmarshal(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return Decode(v)
}

// SortedKeys returns the keys of m in order.
func SortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
