package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
)

func TestParseRule(t *testing.T) {
	spec, err := ParseRule([]byte(`{
		"sql": "SELECT id, t FROM demo WHERE t > 30",
		"actions": [
			{"mqtt": {"topic": "alerts/{{.id}}", "sendSingle": true, "dataTemplate": "{\"device\":\"{{.id}}\",\"temp\":{{.t}}}"}},
			{"rest": {"url": "http://127.0.0.1:8080/hook", "headers": {"X-Key": "k"}}},
			{"log": {}}
		],
		"options": {"isEventTime": false, "lateTolerance": 1000, "qos": 1}
	}`), "hot")
	if err != nil {
		t.Fatal(err)
	}
	if spec.ID != "hot" || len(spec.Actions) != 3 || spec.Actions[1].REST.Method != "POST" || spec.Options.LateTolerance != 1000 {
		t.Fatalf("%+v", spec)
	}
	cat := NewCatalog()
	if _, err := cat.Exec(`CREATE STREAM demo () WITH (DATASOURCE="sensors/#")`); err != nil {
		t.Fatal(err)
	}
	r, err := spec.Compile(cat, clock.NewFake(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.Process(Event{Data: map[string]any{"id": "d1", "t": 31.5}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	ps, err := spec.Actions[0].Render(rows)
	if err != nil || len(ps) != 1 || ps[0].Topic != "alerts/d1" || string(ps[0].Body) != `{"device":"d1","temp":31.5}` {
		t.Fatalf("mqtt payloads %+v, %v", ps, err)
	}
	ps, err = spec.Actions[1].Render(rows)
	if err != nil || len(ps) != 1 || string(ps[0].Body) != `[{"id":"d1","t":31.5}]` {
		t.Fatalf("rest payloads %+v, %v", ps, err)
	}
}

func TestParseRuleErrors(t *testing.T) {
	cases := map[string]string{
		`{"sql": "SELECT * FROM d", "actions": [{"kafka": {}}]}`:                                `actions[0].kafka: unknown action kind "kafka" (known: log, mqtt, nop, object, rest, stream)`,
		`{"sql": "SELECT * FROM d", "actions": []}`:                                             `has no actions`,
		`{"sql": "SELEC * FROM d", "actions": [{"log": {}}]}`:                                   `sql: line 1, column 1: expected SELECT, found "SELEC"`,
		`{"sql": "SELECT * FROM d", "actions": [{"mqtt": {}}]}`:                                 `actions[0].mqtt: topic is required`,
		`{"sql": "SELECT * FROM d", "actions": [{"mqtt": {"topic": "a", "qoss": 1}}]}`:          `unknown field "qoss"`,
		`{"sql": "SELECT * FROM d", "actions": [{"rest": {"url": "ftp://x"}}]}`:                 `must be an absolute http or https URL`,
		`{"sql": "SELECT * FROM d", "actions": [{"log": {}, "mqtt": {}}]}`:                      `exactly one kind`,
		`{"sql": "SELECT * FROM d", "actions": [{"log": {"dataTemplate": "{{.x"}}]}`:            `dataTemplate: template: dataTemplate:1: unclosed action`,
		`{"sql": "SELECT * FROM d", "actions": [{"log": {}}], "options": {"qos": 3}}`:           `options.qos must be 0, 1 or 2`,
		`{"sql": "SELECT * FROM d", "actions": [{"log": {}}], "options": {"colour": 1}}`:        `unknown field "colour"`,
		`{"sql": "SELECT * FROM d", "actions": [{"log": {}}], "options": {"qos": "1"}}`:         `field "options.qos" must be a whole number, not string`,
		`{"id": "r1", "name": "a", "sql": "SELECT * FROM d", "actions": [{"log": {}}], "x": 1}`: `unknown field "x"`,
		`{"id": "a b", "sql": "SELECT * FROM d", "actions": [{"log": {}}]}`:                     `id "a b" must be`,
	}
	for in, want := range cases {
		id := "r1"
		if strings.Contains(in, `"a b"`) {
			id = ""
		}
		_, err := ParseRule([]byte(in), id)
		if err == nil || !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant ...%s...", in, err, want)
		}
	}
}

func TestRenderBatchTemplate(t *testing.T) {
	spec, err := ParseRule([]byte(`{"id": "x", "sql": "SELECT * FROM d", "actions": [
		{"log": {"dataTemplate": "{{range .}}{{.a}};{{end}}", "fields": ["a"], "omitIfEmpty": true}}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := spec.Actions[0].Render([]Row{{"a": 1.0, "b": 2.0}, {"b": 3.0}, {"a": "z"}})
	if err != nil || len(ps) != 1 || string(ps[0].Body) != "1;z;" {
		t.Fatalf("%+v %v", ps, err)
	}
	if ps, _ := spec.Actions[0].Render([]Row{{"b": 1.0}}); ps != nil {
		t.Fatalf("omitIfEmpty rendered %+v", ps)
	}
}
