package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

// FuzzRule compiles arbitrary SQL against a schemaless stream and, when it compiles, feeds it
// events, advances time and round-trips a checkpoint: nothing may panic.
func FuzzRule(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM demo WHERE t > 1",
		"SELECT id, avg(t), collect(*)[0]->t FROM demo GROUP BY id, TUMBLINGWINDOW(ss, 1) HAVING count(*) > 0 ORDER BY id DESC LIMIT 1",
		"SELECT lag(t, 2, 0) OVER (PARTITION BY id WHEN t > 0), latest(t), changed_col(true, t), had_changed(false, *) FROM demo",
		"SELECT anomaly_spikedip(t, 90, 8).score, anomaly_changepoint(t, 90, 8), anomaly_zscore(t, 2, 0.5) FROM demo",
		"SELECT count(*) FROM demo GROUP BY SLIDINGWINDOW(ms, 500, 100)",
		"SELECT percentile_disc(t, 0.5), median(t), deduplicate(id, false) FROM demo GROUP BY SESSIONWINDOW(ss, 1, 3)",
		"SELECT t FROM demo GROUP BY COUNTWINDOW(3, 2) FILTER (WHERE t != 2)",
		"SELECT substring(id, t, -t), split_value(id, '', t), format(t, 2), cast(t, 'datetime') FROM demo",
	} {
		f.Add(s, `{"id":"a","t":1.5,"arr":[1,{"k":2}]}`)
	}
	f.Fuzz(func(t *testing.T, query, payload string) {
		cat := NewCatalog()
		if _, err := cat.Exec(`CREATE STREAM demo () WITH (DATASOURCE="d")`); err != nil {
			t.Fatal(err)
		}
		clk := clock.NewFake(time.Unix(0, 0))
		r, err := Compile(query, cat, Options{Clock: clk})
		if err != nil {
			return
		}
		var data map[string]any
		if json.Unmarshal([]byte(payload), &data) != nil {
			data = map[string]any{"t": 1.0}
		}
		for i := 0; i < 4; i++ {
			clk.Advance(700 * time.Millisecond)
			r.Process(Event{Topic: "d", Data: data}) //nolint:errcheck // errors are fine, panics are not
			r.Advance(clk.Now())                     //nolint:errcheck
		}
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		r2, _ := Compile(query, cat, Options{Clock: clk})
		if err := r2.Restore(snap); err != nil {
			t.Fatalf("restore: %v", err)
		}
		r2.Process(Event{Topic: "d", Data: data}) //nolint:errcheck
	})
}

// FuzzParseRule feeds arbitrary rule JSON to the validator: it may reject, never panic.
func FuzzParseRule(f *testing.F) {
	f.Add(`{"id":"r","sql":"SELECT * FROM d","actions":[{"mqtt":{"topic":"a/{{.id}}","sendSingle":true,"dataTemplate":"{{json .}}"}},{"rest":{"url":"http://x/y"}}],"options":{"qos":1}}`)
	f.Add(`{"sql":"SELECT * FROM d","actions":[{"log":null}]}`)
	f.Add(`{"sql":"SELECT * FROM d","actions":[{"object":{"bucket":"b","key":"k/{{.id}}/","batchSize":10,"flushInterval":"1s","format":"json"}},{"stream":{"name":"s","topic":"t"}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := ParseRule([]byte(in), "r")
		if err != nil {
			return
		}
		for _, a := range spec.Actions {
			a.Render([]Row{{"id": "x", "v": 1.0}}) //nolint:errcheck
		}
	})
}
