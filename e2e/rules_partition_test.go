package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRulesMergeAcrossPartition: SQL streams and rules are a mesh table. Site b is cut off (a
// real partition: its WAN link down); meanwhile rules are created and changed on both sides,
// including the same rule on both (the later change wins); after healing both sites hold the
// same rules in the state last-writer-wins predicts. A rule whose sites option names only site a
// runs on a and stays on standby, with no owner, on b.
func TestRulesMergeAcrossPartition(t *testing.T) {
	sites := setupSites(t, "a", "b")
	a, b := sites[0], sites[1]
	a.start(t, "")
	b.start(t, a.wanIP+":7946")
	eventually(t, 30*time.Second, "the sites see each other", func() bool {
		return strings.Count(cli(t, a.endpoint(), "status"), " alive ") == 2
	})
	dir := t.TempDir()
	ruleFile := func(name, def string) string {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(def), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli(t, a.endpoint(), "sql", `CREATE STREAM s (v float) WITH (DATASOURCE="in/#")`)
	cli(t, a.endpoint(), "rule", "create", "shared", "-f", ruleFile("shared", `{"sql": "SELECT v FROM s", "actions": [{"log": {}}]}`))
	cli(t, a.endpoint(), "rule", "create", "onlya", "-f", ruleFile("onlya", `{"sql": "SELECT v FROM s", "actions": [{"log": {}}], "options": {"sites": ["a"]}}`))
	eventually(t, 30*time.Second, "the rules on b", func() bool {
		return len(ruleStates(t, b.endpoint())) == 2
	})

	b.cut(t)
	// On b, cut off: a new stream and rule, and a change of "shared" (stopped).
	cli(t, b.endpoint(), "sql", `CREATE STREAM s2 (v float) WITH (DATASOURCE="other/#")`)
	cli(t, b.endpoint(), "rule", "create", "fromb", "-f", ruleFile("fromb", `{"sql": "SELECT v FROM s2", "actions": [{"log": {}}]}`))
	cli(t, b.endpoint(), "rule", "stop", "shared")
	// On a, later (the same machine's clock: each CLI call takes milliseconds): "shared"
	// deleted and created anew with other SQL, and a new rule for site a only.
	cli(t, a.endpoint(), "rule", "delete", "shared")
	cli(t, a.endpoint(), "rule", "create", "shared", "-f", ruleFile("shared2", `{"sql": "SELECT v * 2 AS d FROM s", "actions": [{"log": {}}]}`))
	cli(t, a.endpoint(), "rule", "create", "froma", "-f", ruleFile("froma", `{"sql": "SELECT v FROM s", "actions": [{"log": {}}], "options": {"sites": ["a"]}}`))
	if got := ruleStates(t, b.endpoint()); got["shared"] != "stopped" || got["fromb"] != "running" || got["froma"] != "" {
		t.Fatalf("on b while cut off: %v", got)
	}
	if got := ruleStates(t, a.endpoint()); got["fromb"] != "" || got["shared"] != "running SELECT v * 2 AS d FROM s" {
		t.Fatalf("on a while b is cut off: %v", got)
	}
	b.heal(t)

	want := map[string]string{"shared": "running SELECT v * 2 AS d FROM s", "onlya": "running", "fromb": "running", "froma": "running"}
	wantB := map[string]string{"shared": "running SELECT v * 2 AS d FROM s", "onlya": "standby", "fromb": "running", "froma": "standby"}
	eventually(t, 90*time.Second, "both sites agree after healing", func() bool {
		ga, gb := ruleStates(t, a.endpoint()), ruleStates(t, b.endpoint())
		return equalMaps(ga, want) && equalMaps(gb, wantB)
	})
	var info struct {
		Status string `json:"status"`
		Owner  string `json:"owner"`
	}
	if err := json.Unmarshal([]byte(cli(t, b.endpoint(), "rule", "describe", "onlya", "--json")), &info); err != nil || info.Status != "standby" || info.Owner != "" {
		t.Fatalf("onlya on b: %+v %v", info, err)
	}
	if out := cli(t, a.endpoint(), "sql", "DESCRIBE STREAM s2"); !strings.Contains(out, "other/#") {
		t.Fatalf("stream s2 on a: %s", out)
	}
}

// ruleStates maps each rule a node lists to its status (and, for "shared", its SQL).
func ruleStates(t *testing.T, endpoint string) map[string]string {
	var rs []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		SQL    string `json:"sql"`
	}
	if err := json.Unmarshal([]byte(cli(t, endpoint, "rule", "list", "--json")), &rs); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.Name] = r.Status
		if r.Name == "shared" && r.Status == "running" {
			out[r.Name] += " " + r.SQL
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
