package value

import (
	"testing"
	"time"
)

func TestLike(t *testing.T) {
	cases := []struct {
		s, p string
		want bool
	}{
		{"hello", "h%", true}, {"hello", "%llo", true}, {"hello", "h_llo", true}, {"hello", "h_lo", false},
		{"", "%", true}, {"", "_", false}, {"a%b", `a\%b`, true}, {"axb", `a\%b`, false},
		{"abcabc", "%b%c", true}, {"日本語", "日_語", true}, {"abc", "abc%%", true}, {"ab", "abc", false},
	}
	for _, c := range cases {
		if got := Like(c.s, c.p); got != c.want {
			t.Errorf("Like(%q, %q) = %v", c.s, c.p, got)
		}
	}
}

func TestArith(t *testing.T) {
	cases := []struct {
		op   string
		a, b any
		want any
	}{
		{"+", int64(1), int64(2), int64(3)}, {"/", int64(7), int64(2), int64(3)},
		{"/", 7.0, int64(2), 3.5}, {"%", int64(-7), int64(3), int64(-1)}, {"+", nil, 1.0, nil},
		{"&", int64(6), int64(3), int64(2)}, {"-", 1.5, 0.5, 1.0},
	}
	for _, c := range cases {
		got, err := Arith(c.op, c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("%v %s %v = %v, %v; want %v", c.a, c.op, c.b, got, err, c.want)
		}
	}
	if _, err := Arith("/", int64(1), int64(0)); err != ErrDivideByZero {
		t.Errorf("1/0: %v", err)
	}
	if _, err := Arith("+", "a", 1.0); err == nil {
		t.Error("string + number accepted")
	}
}

func TestCompareAndKey(t *testing.T) {
	if c, ok := Compare(int64(1), 1.0); !ok || c != 0 {
		t.Error("1 != 1.0")
	}
	if _, ok := Compare("a", 1.0); ok {
		t.Error("string and number compared")
	}
	if Key(int64(3)) != Key(3.0) || Key("3") == Key(3.0) {
		t.Error("keys")
	}
	if Keys([]any{"a", 1.0}) == Keys([]any{"a", "1"}) {
		t.Error("composite keys collide")
	}
	if !Equal(map[string]any{"a": []any{1.0}}, map[string]any{"a": []any{int64(1)}}) {
		t.Error("deep equal")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	in := map[string]any{
		"i": int64(-42), "f": 2.0, "s": "x", "b": true, "n": nil,
		"t": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), "y": []byte{1, 2},
		"a": []any{int64(1), 1.5, map[string]any{"k": int64(7)}},
	}
	data, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	if m["i"] != int64(-42) || m["f"] != 2.0 || !m["t"].(time.Time).Equal(in["t"].(time.Time)) ||
		m["a"].([]any)[2].(map[string]any)["k"] != int64(7) || string(m["y"].([]byte)) != "\x01\x02" {
		t.Fatalf("round trip: %#v", m)
	}
}
