package funcs

import (
	"testing"
	"time"
)

func TestFormatJava(t *testing.T) {
	tm := time.Date(2024, 3, 1, 15, 4, 5, 123_000_000, time.UTC)
	cases := map[string]string{
		"YYYY-MM-dd HH:mm:ss":    "2024-03-01 15:04:05",
		"yyyy/M/d h:mm a":        "2024/3/1 3:04 PM",
		"HH:mm:ssSSS":            "15:04:05.123",
		"HH:mm:ss.SSS":           "15:04:05.123",
		"EEEE, MMMM d 'at' HH 1": "Friday, March 1 at 15 1",
		"HH 'o''clock' ''":       "15 o'clock '",
		"YY XXX":                 "24 Z",
	}
	for pattern, want := range cases {
		if got := FormatJava(tm, pattern); got != want {
			t.Errorf("%q: got %q, want %q", pattern, got, want)
		}
	}
}

func TestCast(t *testing.T) {
	cases := []struct {
		in   any
		to   string
		want any
	}{
		{"42", "bigint", int64(42)}, {"4.9", "bigint", int64(4)}, {4.9, "bigint", int64(4)},
		{true, "bigint", int64(1)}, {int64(3), "float", 3.0}, {"2.5", "float", 2.5},
		{3.0, "string", "3"}, {int64(7), "string", "7"}, {"true", "boolean", true}, {0.0, "boolean", false},
	}
	for _, c := range cases {
		got, err := Cast(c.in, c.to)
		if err != nil || got != c.want {
			t.Errorf("cast(%v, %s) = %v, %v; want %v", c.in, c.to, got, err, c.want)
		}
	}
	if _, err := Cast("x", "bigint"); err == nil {
		t.Error(`cast("x", bigint) succeeded`)
	}
}

func TestEveryFunctionHandlesNulls(t *testing.T) {
	// A null argument must never panic, whatever the function.
	for _, name := range Names() {
		f, _ := Lookup(name)
		n := max(f.MinArgs, 1)
		if f.MaxArgs >= 0 {
			n = min(n, f.MaxArgs)
		}
		args := make([]any, n)
		if _, err := f.Call(env{}, args); err != nil && name != "cast" {
			continue
		}
	}
}

type env struct{}

func (env) Now() time.Time         { return time.Unix(0, 0) }
func (env) EventTime() time.Time   { return time.Unix(0, 0) }
func (env) WindowStart() time.Time { return time.Time{} }
func (env) WindowEnd() time.Time   { return time.Time{} }
func (env) RuleID() string         { return "r" }
