package rules

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

// TestRestartIsInvisible runs one random event stream through each rule twice: straight through,
// and with a checkpoint-and-restart into a freshly compiled rule at random points. The outputs
// must be identical: a rule that moves to another node resumes without losing or repeating rows.
func TestRestartIsInvisible(t *testing.T) {
	queries := []string{
		"SELECT id, avg(v) AS a, count(*) AS n, collect(v) AS vs FROM s GROUP BY id, TUMBLINGWINDOW(ss, 5)",
		"SELECT id, sum(v) AS s, stddevs(v) AS sd, median(v) AS m FROM s GROUP BY id, HOPPINGWINDOW(ss, 6, 2)",
		"SELECT id, count(*) AS n, max(v) AS top FROM s GROUP BY id, SLIDINGWINDOW(ss, 4, 1) HAVING count(*) > 1",
		"SELECT id, count(*) AS n, deduplicate(v, true) AS d FROM s GROUP BY id, SESSIONWINDOW(ss, 2, 20)",
		"SELECT v FROM s WHERE v > 3 GROUP BY COUNTWINDOW(4, 3)",
		"SELECT count(*) AS n, min(v) AS lo FROM s GROUP BY COUNTWINDOW(5) FILTER (WHERE id != 'c')",
		"SELECT id, lag(v, 2) OVER (PARTITION BY id) AS l, latest(v) AS lt, changed_col(true, id) AS c, had_changed(true, v) AS h FROM s",
		"SELECT id, anomaly_spikedip(v, 90, 10) OVER (PARTITION BY id) AS sd, anomaly_changepoint(v, 90, 10) AS cp, anomaly_zscore(v, 2, 0.3) AS z FROM s",
		"SELECT count(*) AS n, collect(ts) AS tss FROM e GROUP BY TUMBLINGWINDOW(ss, 3)",
	}
	for qi, q := range queries {
		t.Run(fmt.Sprint(qi), func(t *testing.T) {
			events := randomEvents(uint64(qi), 400)
			want := runEvents(t, q, events, nil)
			for seed := uint64(0); seed < 5; seed++ {
				r := rand.New(rand.NewPCG(seed, 99))
				restarts := map[int]bool{}
				for i := 0; i < 20; i++ {
					restarts[r.IntN(len(events))] = true
				}
				if got := runEvents(t, q, events, restarts); got != want {
					t.Fatalf("seed %d: output with restarts differs:\n%s", seed, firstDiff(want, got))
				}
			}
		})
	}
}

type timedEvent struct {
	at   time.Duration
	data map[string]any
}

func randomEvents(seed uint64, n int) []timedEvent {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []timedEvent
	at := time.Duration(0)
	for i := 0; i < n; i++ {
		at += time.Duration(r.IntN(1500)) * time.Millisecond
		out = append(out, timedEvent{at: at, data: map[string]any{
			"id": string(rune('a' + r.IntN(3))),
			"v":  float64(r.IntN(10)),
			// event time lags the arrival time by up to 2 s, so some events arrive late
			"ts": float64((at - time.Duration(r.IntN(2000))*time.Millisecond).Milliseconds()),
		}})
	}
	return out
}

// runEvents feeds the events (with an Advance between each) and returns every row and error as
// text; at the indexes in restarts it checkpoints and restores into a new rule first.
func runEvents(t *testing.T, q string, events []timedEvent, restarts map[int]bool) string {
	cat := NewCatalog()
	for _, s := range []string{`CREATE STREAM s () WITH (DATASOURCE="s")`, `CREATE STREAM e () WITH (DATASOURCE="e", TIMESTAMP="ts")`} {
		if _, err := cat.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Unix(1000, 0))
	opts := Options{Clock: clk, LateTolerance: time.Second}
	r, err := Compile(q, cat, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	record := func(rows []Row, err error) {
		for _, row := range rows {
			b, _ := json.Marshal(row)
			out = append(append(out, b...), '\n')
		}
		if err != nil {
			out = append(out, "error: "+err.Error()+"\n"...)
		}
	}
	start := clk.Now()
	for i, ev := range events {
		if restarts[i] {
			snap, err := r.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if r, err = Compile(q, cat, opts); err != nil {
				t.Fatal(err)
			}
			if err := r.Restore(snap); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(start.Add(ev.at).Sub(clk.Now()))
		record(r.Advance(clk.Now()))
		data := make(map[string]any, len(ev.data))
		for k, v := range ev.data {
			data[k] = v
		}
		record(r.Process(Event{Topic: "s", Data: data}))
	}
	st := r.Stats()
	return fmt.Sprintf("%s\nin=%d out=%d late=%d errors=%d", out, st.In, st.Out, st.Late, st.Errors)
}
