package funcs

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	pure("cast", 2, 2, castFn)
	pure("encode", 2, 2, nullable(encodeFn))
	pure("decode", 2, 2, nullable(decodeFn))
	pure("to_json", 1, 1, func(a []any) (any, error) { return jsonText(a[0]) })
	pure("parse_json", 1, 1, nullable(parseJSONFn))
	pure("chr", 1, 1, nullable(func(a []any) (any, error) {
		n, err := integer("chr", a, 0)
		return string(rune(n)), err
	}))
	for name, h := range map[string]func() hash.Hash{
		"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New,
	} {
		pure(name, 1, 1, nullable(hashFn(name, h)))
	}
	pure("coalesce", 1, -1, func(a []any) (any, error) {
		for _, x := range a {
			if x != nil {
				return x, nil
			}
		}
		return nil, nil
	})
	pure("isnull", 1, 1, func(a []any) (any, error) { return a[0] == nil, nil })
	pure("cardinality", 1, 1, nullable(func(a []any) (any, error) {
		arr, ok := a[0].([]any)
		if !ok {
			return nil, argError("cardinality", 0, "an array", a[0])
		}
		return int64(len(arr)), nil
	}))
	pure("array_contains", 2, 2, func(a []any) (any, error) {
		arr, _ := a[0].([]any)
		for _, x := range arr {
			if value.Equal(x, a[1]) {
				return true, nil
			}
		}
		return false, nil
	})
	pure("newuuid", 0, 0, newUUIDFn)
	register("rule_id", 0, 0, func(env Env, _ []any) (any, error) { return env.RuleID(), nil })
}

func hashFn(name string, h func() hash.Hash) func([]any) (any, error) {
	return func(a []any) (any, error) {
		var data []byte
		switch x := a[0].(type) {
		case string:
			data = []byte(x)
		case []byte:
			data = x
		default:
			return nil, argError(name, 0, "a string", a[0])
		}
		sum := h()
		sum.Write(data)
		return hex.EncodeToString(sum.Sum(nil)), nil
	}
}

// castFn converts to bigint, float, string, boolean, datetime or bytea, as eKuiper's cast.
func castFn(a []any) (any, error) {
	to, err := str("cast", a, 1)
	if err != nil {
		return nil, err
	}
	if a[0] == nil {
		return nil, nil
	}
	v, err := Cast(a[0], strings.ToLower(to))
	if err != nil {
		return nil, fmt.Errorf("cast: %w", err)
	}
	return v, nil
}

// Cast converts v to the named type; stream schemas use it too.
func Cast(v any, to string) (any, error) {
	switch to {
	case "bigint":
		return toBigint(v)
	case "float":
		return toFloat(v)
	case "string":
		return toString(v), nil
	case "boolean":
		return toBool(v)
	case "datetime":
		return ToTime(v)
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			if b, err := base64.StdEncoding.DecodeString(x); err == nil {
				return b, nil
			}
			return []byte(x), nil
		}
		return nil, fmt.Errorf("cannot convert %s to bytea", value.TypeName(v))
	}
	return nil, fmt.Errorf("unknown type %q (use bigint, float, string, boolean, datetime or bytea)", to)
}

func toBigint(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return int64(f), nil
		}
		return nil, fmt.Errorf("cannot convert string %q to bigint", x)
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	}
	if n, ok := value.Int(v); ok {
		return n, nil
	}
	if f, ok := value.Number(v); ok {
		return int64(f), nil
	}
	return nil, fmt.Errorf("cannot convert %s to bigint", value.TypeName(v))
}

func toFloat(v any) (any, error) {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return nil, fmt.Errorf("cannot convert string %q to float", x)
		}
		return f, nil
	case bool:
		if x {
			return 1.0, nil
		}
		return 0.0, nil
	}
	if f, ok := value.Number(v); ok {
		return f, nil
	}
	return nil, fmt.Errorf("cannot convert %s to float", value.TypeName(v))
}

func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return nil, fmt.Errorf("cannot convert string %q to boolean", x)
		}
		return b, nil
	}
	if f, ok := value.Number(v); ok {
		return f != 0, nil
	}
	return nil, fmt.Errorf("cannot convert %s to boolean", value.TypeName(v))
}

func encodeFn(a []any) (any, error) {
	if f, _ := a[1].(string); strings.ToLower(f) != "base64" {
		return nil, argError("encode", 1, `"base64"`, a[1])
	}
	switch x := a[0].(type) {
	case string:
		return base64.StdEncoding.EncodeToString([]byte(x)), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	}
	return nil, argError("encode", 0, "a string or bytea", a[0])
}

func decodeFn(a []any) (any, error) {
	if f, _ := a[1].(string); strings.ToLower(f) != "base64" {
		return nil, argError("decode", 1, `"base64"`, a[1])
	}
	s, err := str("decode", a, 0)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return string(b), nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("to_json: %w", err)
	}
	return string(b), nil
}

func parseJSONFn(a []any) (any, error) {
	s, err := str("parse_json", a, 0)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("parse_json: %w", err)
	}
	return v, nil
}

// newUUIDFn is the one non-deterministic function; rules that need replayable output avoid it.
func newUUIDFn([]any) (any, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return nil, fmt.Errorf("newuuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
