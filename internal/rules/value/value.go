// Package value holds the dynamic values that rules compute on: nil, bool, int64, float64, string,
// time.Time, []byte, []any and map[string]any (JSON-decoded payloads), with SQL's comparison,
// arithmetic and truth rules, and a codec that keeps int64 and time.Time through a JSON snapshot.
//
// It must stay free of rule, window and function concepts.
package value

import (
	"fmt"
	"math"
	"time"
)

// Number returns v as a float64 when it is any Go number type.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	}
	return 0, false
}

// Int returns v as an int64 when it is an integer type or a float64 with no fraction.
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
			return int64(n), true
		}
	case float32:
		return Int(float64(n))
	}
	return 0, false
}

// IsInt reports whether v is held as an integer type (not a float with no fraction).
func IsInt(v any) bool {
	switch v.(type) {
	case int64, int, int32, uint32:
		return true
	}
	return false
}

// Truthy is SQL's condition test: true only for boolean true (nil and everything else are false).
func Truthy(v any) bool {
	b, ok := v.(bool)
	return ok && b
}

// TypeName names a value's type for error messages.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64, int, int32, uint32, uint64:
		return "bigint"
	case float64, float32:
		return "float"
	case string:
		return "string"
	case time.Time:
		return "datetime"
	case []byte:
		return "bytea"
	case []any:
		return "array"
	case map[string]any:
		return "struct"
	}
	return fmt.Sprintf("%T", v)
}
