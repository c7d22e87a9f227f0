package ingest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
		err        string // substring of the error; "" for success
	}{
		{"one document", `{"t": 21.5}`, []string{`{"t": 21.5}`}, ""},
		{"pretty document", "{\n  \"t\": 1,\n  \"u\": [1, 2]\n}\n", []string{"{\n  \"t\": 1,\n  \"u\": [1, 2]\n}"}, ""},
		{"ndjson", "{\"a\":1}\n{\"a\":2}\r\n\n{\"a\":3}\n", []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}, ""},
		{"scalars", "1\n\"x\"\nnull", []string{"1", `"x"`, "null"}, ""},
		{"empty", "", nil, "empty"},
		{"blank", " \n\t\n", nil, "empty"},
		{"bad second line", "{\"a\":1}\n{\"a\":}\n", nil, "JSON document 2 (line 2, column 6)"},
		{"cut short", "{\"a\":1}\n{\"a\":", nil, "document 2 (line 2, column 5): the document is cut short"},
		{"not json", "temperature=21", nil, "JSON document 1 (line 1, column 2)"},
	} {
		got, err := ParseBody([]byte(c.body))
		if c.err != "" {
			if err == nil || !errors.Is(err, ErrBadBody) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %d messages %q, want %q", c.name, len(got), got, c.want)
			continue
		}
		for i := range got {
			if string(got[i]) != c.want[i] {
				t.Errorf("%s: message %d = %q, want %q", c.name, i, got[i], c.want[i])
			}
		}
	}
}

// FuzzParseBody: any input either is refused with ErrBadBody or splits into valid JSON documents
// that make up the whole input.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{`{"t":1}`, "{\"a\":1}\n{\"a\":2}\n", "1 2 3", "{", "\n", `[{"x":[1,{"y":null}]}]`, "\"\\u00e9\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := ParseBody(body)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("error not ErrBadBody: %v", err)
			}
			return
		}
		total := 0
		for _, m := range msgs {
			if !json.Valid(m) {
				t.Fatalf("message %q is not valid JSON", m)
			}
			total += len(m)
		}
		if total > len(body) || len(msgs) == 0 {
			t.Fatalf("%d messages of %d bytes from a body of %d", len(msgs), total, len(body))
		}
	})
}
