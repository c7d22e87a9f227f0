package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestGolden runs the scenarios of testdata/*.txt. A scenario is a list of commands, each
// followed by its expected output lines ("> row or message", "! error"):
//
//	stream <CREATE|DROP|DESCRIBE STREAM ...>   define streams
//	option <name> <value>                      lateTolerance (a Go duration), eventTime, id
//	rule <SELECT ...>                          compile the rule
//	event <seconds> [topic=<t>] <json>         set the fake clock, then Process
//	advance <seconds>                          set the fake clock, then Advance
//	restart                                    Snapshot, compile afresh, Restore
//	stats | deadline                           print counters | the next deadline
//
// Seconds count from the Unix epoch. Rows print as JSON with sorted keys. With -rewrite the
// expected output is regenerated from what the engine does: read the diff before committing.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := runScenario(t, string(src))
			if *rewrite {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(src) {
				t.Errorf("output differs (run with -rewrite and read the diff):\n%s", firstDiff(string(src), got))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant: %s\n got: %s", i+1, a, b)
		}
	}
	return ""
}

type scenario struct {
	t    *testing.T
	clk  *clock.Fake
	cat  *Catalog
	opts Options
	rule *Rule
	out  bytes.Buffer
}

func runScenario(t *testing.T, src string) string {
	s := &scenario{t: t, clk: clock.NewFake(time.Unix(0, 0).UTC()), cat: NewCatalog()}
	s.opts = Options{ID: "golden", Clock: s.clk}
	for _, line := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		if strings.HasPrefix(line, ">") || strings.HasPrefix(line, "!") {
			continue
		}
		s.out.WriteString(line + "\n")
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			continue
		}
		s.run(cmd, strings.TrimSpace(arg))
	}
	return s.out.String()
}

func (s *scenario) print(format string, args ...any) {
	for _, l := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		s.out.WriteString(strings.TrimRight("> "+l, " ") + "\n")
	}
}

func (s *scenario) fail(err error) {
	if err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			s.out.WriteString("! " + l + "\n")
		}
	}
}

func (s *scenario) run(cmd, arg string) {
	switch cmd {
	case "stream":
		res, err := s.cat.Exec(arg)
		if err != nil {
			s.fail(err)
			return
		}
		s.print("%s", res.Message)
	case "option":
		s.option(arg)
	case "rule":
		r, err := Compile(arg, s.cat, s.opts)
		s.fail(err)
		s.rule = r
	case "event":
		s.event(arg)
	case "advance":
		s.setClock(arg)
		rows, err := s.rule.Advance(s.clk.Now())
		s.rows(rows, err)
	case "restart":
		s.restart()
	case "stats":
		st := s.rule.Stats()
		s.print("in=%d out=%d late=%d errors=%d", st.In, st.Out, st.Late, st.Errors)
	case "deadline":
		if d, ok := s.rule.NextDeadline(); ok {
			s.print("%s", seconds(d))
		} else {
			s.print("none")
		}
	default:
		s.t.Fatalf("unknown scenario command %q", cmd)
	}
}

func (s *scenario) option(arg string) {
	name, val, _ := strings.Cut(arg, " ")
	switch name {
	case "lateTolerance":
		d, err := time.ParseDuration(val)
		if err != nil {
			s.t.Fatal(err)
		}
		s.opts.LateTolerance = d
	case "eventTime":
		b := val == "true"
		s.opts.IsEventTime = &b
	default:
		s.t.Fatalf("unknown option %q", name)
	}
}

func seconds(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

func (s *scenario) setClock(secs string) {
	// Parse seconds and milliseconds apart: a float would turn .123 into .122999.
	whole, frac, _ := strings.Cut(secs, ".")
	sec, err1 := strconv.ParseInt(whole, 10, 64)
	ms, err2 := strconv.ParseInt((frac + "000")[:3], 10, 64)
	if err1 != nil || err2 != nil {
		s.t.Fatalf("bad time %q", secs)
	}
	target := time.Unix(sec, ms*int64(time.Millisecond)).UTC()
	if d := target.Sub(s.clk.Now()); d > 0 {
		s.clk.Advance(d)
	}
}

func (s *scenario) event(arg string) {
	secs, rest, _ := strings.Cut(arg, " ")
	s.setClock(secs)
	topic := "t"
	if strings.HasPrefix(rest, "topic=") {
		topic, rest, _ = strings.Cut(strings.TrimPrefix(rest, "topic="), " ")
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(rest), &data); err != nil {
		s.t.Fatalf("bad event %q: %v", rest, err)
	}
	rows, err := s.rule.Process(Event{Time: s.clk.Now(), Topic: topic, Data: data})
	s.rows(rows, err)
}

func (s *scenario) rows(rows []Row, err error) {
	for _, r := range rows {
		b, jerr := json.Marshal(r)
		if jerr != nil {
			s.t.Fatal(jerr)
		}
		s.print("%s", b)
	}
	s.fail(err)
}

// restart checks checkpointing: the rule continues from a snapshot in a freshly compiled copy.
func (s *scenario) restart() {
	data, err := s.rule.Snapshot()
	if err != nil {
		s.fail(err)
		return
	}
	r, err := Compile(s.rule.SQL(), s.cat, s.opts)
	if err != nil {
		s.fail(err)
		return
	}
	s.fail(r.Restore(data))
	s.rule = r
}
