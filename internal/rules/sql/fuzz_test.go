package sql

import "testing"

// FuzzParse checks that no input makes the parser panic, that every error carries a position, and
// that each expression of a parsed SELECT survives Format → ParseExpr → Format unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM demo",
		"SELECT a.b[0]->c AS x, count(*) FROM d WHERE x LIKE 'a%' GROUP BY id, TUMBLINGWINDOW(ss, 10) HAVING count(*) > 1 ORDER BY x DESC LIMIT 3",
		"SELECT lag(t, 1, 0) OVER (PARTITION BY id WHEN had_changed(true, s)) FROM d",
		"SELECT CASE WHEN a BETWEEN 1 AND 2 THEN 'x' ELSE -1.5e3 END FROM d GROUP BY SESSIONWINDOW(mi, 2, 10) FILTER(WHERE a IN (1,2))",
		"CREATE STREAM s (a BIGINT, b ARRAY(STRUCT(c FLOAT))) WITH (DATASOURCE=\"t/#\", TIMESTAMP=\"ts\")",
		"DROP STREAM s", "DESCRIBE STREAM `s`", "SELECT x[1:-1], `a b` FROM d /* c */ -- d",
		"SELECT anomaly_spikedip(t, 95, 120).is_anomaly FROM d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		st, err := Parse(src)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("bad error %T %v", err, err)
			}
			return
		}
		sel, ok := st.(*Select)
		if !ok {
			return
		}
		for _, fld := range sel.Fields {
			roundTrip(t, fld.Expr)
		}
		roundTrip(t, sel.Where)
		roundTrip(t, sel.Having)
	})
}

func roundTrip(t *testing.T, e Expr) {
	if e == nil {
		return
	}
	if _, ok := e.(*Wildcard); ok {
		return
	}
	text := Format(e)
	back, err := ParseExpr(text)
	if err != nil {
		t.Fatalf("formatted %q does not parse: %v", text, err)
	}
	if again := Format(back); again != text {
		t.Fatalf("round trip changed %q into %q", text, again)
	}
}
