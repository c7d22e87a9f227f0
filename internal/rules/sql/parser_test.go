package sql

import (
	"strings"
	"testing"
)

func TestParseSelect(t *testing.T) {
	s, err := ParseSelect(`select a.b[0]->c AS x, count(*), CASE WHEN t > 1 THEN 'hi' ELSE "lo" END AS k
		FROM demo AS d WHERE name LIKE "a%" AND v NOT IN (1, 2) AND w between 1 and 2
		GROUP BY id, TUMBLINGWINDOW(ss, 10) FILTER (WHERE t > 0)
		HAVING count(*) > 3 ORDER BY x DESC, id LIMIT 5;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Fields) != 3 || s.Fields[0].Alias != "x" || s.From != "demo" || s.FromAlias != "d" {
		t.Fatalf("fields/from: %+v", s)
	}
	if got := Format(s.Fields[0].Expr); got != "a->b[0]->c" {
		t.Errorf("field 0 = %s", got)
	}
	if s.Window == nil || s.Window.Kind != Tumbling || s.Window.Unit != "SS" || s.Window.Args[0] != 10 || s.Window.Filter == nil {
		t.Errorf("window = %+v", s.Window)
	}
	if len(s.GroupBy) != 1 || len(s.OrderBy) != 2 || !s.OrderBy[0].Desc || s.Limit != 5 {
		t.Errorf("group/order/limit: %+v %+v %d", s.GroupBy, s.OrderBy, s.Limit)
	}
	if got := Format(s.Where); got != `(((name LIKE "a%") AND (v NOT IN (1, 2))) AND (w BETWEEN 1 AND 2))` {
		t.Errorf("where = %s", got)
	}
}

func TestParseExprPrecedence(t *testing.T) {
	cases := map[string]string{
		"1 + 2 * 3":        "(1 + (2 * 3))",
		"-a.b":             "(-a->b)",
		"NOT a = 1 OR b":   "((NOT (a = 1)) OR b)",
		"a <> b":           "(a != b)",
		"f(x).is_anomaly":  "f(x)->is_anomaly",
		"collect(*)[1]->a": "collect(*)[1]->a",
		"lag(t, 1) OVER (PARTITION BY id WHEN t > 0)": "lag(t, 1) OVER (PARTITION BY id WHEN (t > 0))",
		"x[1:]":                      "x[1:]",
		"`select` + 1":               "(`select` + 1)",
		"-2.5e1":                     "(-2.5e+01)",
		"case c when 1 then 'a' end": `CASE c WHEN 1 THEN "a" END`,
	}
	for in, want := range cases {
		e, err := ParseExpr(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := Format(e); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestParseStreams(t *testing.T) {
	st, err := Parse(`CREATE STREAM demo (id STRING, t FLOAT, tags ARRAY(STRING), loc STRUCT(lat FLOAT, lon FLOAT),)
		WITH (DATASOURCE="sensors/#", FORMAT="JSON", TIMESTAMP="ts")`)
	if err != nil {
		t.Fatal(err)
	}
	cs := st.(*CreateStream)
	if cs.Name != "demo" || len(cs.Fields) != 4 || cs.Fields[2].Type.Elem.Name != "string" || len(cs.Fields[3].Type.Fields) != 2 {
		t.Fatalf("%+v", cs)
	}
	if len(cs.Options) != 3 || cs.Options[2].Key != "TIMESTAMP" || cs.Options[0].Value != "sensors/#" {
		t.Fatalf("options %+v", cs.Options)
	}
	if st, err = Parse(`create stream s () with (datasource="a")`); err != nil || len(st.(*CreateStream).Fields) != 0 {
		t.Fatalf("schemaless: %v", err)
	}
	if st, err = Parse("DROP STREAM s"); err != nil || st.(*DropStream).Name != "s" {
		t.Fatalf("drop: %v", err)
	}
	if st, err = Parse("describe stream `s`"); err != nil || st.(*DescribeStream).Name != "s" {
		t.Fatalf("describe: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ sql, want string }{
		{"SELEC * FROM demo", `line 1, column 1: expected SELECT, found "SELEC" (did you mean SELECT?)`},
		{"SELECT * FORM demo", `line 1, column 10: expected FROM, found "FORM" (did you mean FROM?)`},
		{"SELECT a FROM demo\nWHERE a >", "line 2, column 10: expected an expression, found end of input"},
		{"SELECT a b FROM demo", `line 1, column 10: expected "," or FROM, found "b" (write AS to name a column)`},
		{"SELECT 'abc FROM demo", "line 1, column 8: string is not terminated: add the closing '"},
		{"SELECT * FROM select", "line 1, column 15: expected a stream name, found keyword SELECT (quote it with backticks to use it as a name)"},
		{"SELECT * FROM d GROUP BY TUMBLINGWINDOW(10)", "line 1, column 41: TUMBLINGWINDOW: the first argument must be a time unit: DD, HH, MI, SS or MS"},
		{"SELECT * FROM d GROUP BY HOPPINGWINDOW(ss, 10)", "line 1, column 26: HOPPINGWINDOW takes (unit, length, hop), e.g. HOPPINGWINDOW(ss, 10, 5)"},
		{"SELECT * FROM d GROUP BY COUNTWINDOW(5), COUNTWINDOW(3)", "line 1, column 42: a rule can have only one window; found a second COUNTWINDOW"},
		{"SELECT * FROM d x", `line 1, column 17: unexpected "x" after the end of the statement`},
		{"SELECT * FROM d WHERE a = ((", "line 1, column 29: expected an expression, found end of input"},
		{"CREATE STREAM s (a INTEGER) WITH (DATASOURCE=\"x\")", `line 1, column 20: expected a type (BIGINT, FLOAT, STRING, DATETIME, BOOLEAN, BYTEA, ARRAY(type) or STRUCT(fields)), found "INTEGER"`},
		{"UPDATE s", `line 1, column 1: expected SELECT, CREATE, DROP or DESCRIBE, found "UPDATE"`},
		{"SELECT * FROM a JOIN b", "line 1, column 17: joins are not supported yet: a rule reads one stream"},
	}
	for _, c := range cases {
		_, err := Parse(c.sql)
		if strings.HasPrefix(c.sql, "SELEC ") {
			_, err = ParseSelect(c.sql)
		}
		if err == nil {
			t.Errorf("%q: no error", c.sql)
			continue
		}
		if _, ok := err.(*Error); !ok {
			t.Errorf("%q: error type %T", c.sql, err)
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.sql, err, c.want)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	_, err := ParseExpr(strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000))
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseExpr(strings.Repeat("-", 10000) + "a")
	if err == nil {
		t.Fatal("deep unary minus accepted")
	}
}
