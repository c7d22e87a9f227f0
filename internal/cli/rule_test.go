package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/testserver"
)

// run runs the CLI in process against a real node and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSQLAndRuleCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a minicloud process")
	}
	mqttAddr := testserver.FreeAddr(t)
	node := testserver.Start(t, "--mqtt", mqttAddr)
	t.Setenv("MINICLOUD_ENDPOINT", node.Endpoint())
	t.Setenv("MINICLOUD_ROOT_ACCESS_KEY", testserver.AccessKey)
	t.Setenv("MINICLOUD_ROOT_SECRET_KEY", testserver.SecretKey)

	if code, out, errs := run(t, "sql", `CREATE STREAM temps (device string, t float) WITH (DATASOURCE="temps/+")`); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("create stream: %d %q %q", code, out, errs)
	}
	if code, out, _ := run(t, "sql", "DESCRIBE STREAM temps"); code != 0 || !strings.Contains(out, "DATASOURCE: temps/+") {
		t.Fatalf("describe stream: %d %q", code, out)
	}
	if code, _, errs := run(t, "sql", "CREATE STREM x"); code == 0 || !strings.Contains(errs, "line 1, column 8") {
		t.Fatalf("bad statement: %d %q", code, errs)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"sql": "SELECT device, t FROM temps WHERE t > 30", "actions": [{"mqtt": {"topic": "temps-alerts", "sendSingle": true}}]}`)
	if code, out, errs := run(t, "rule", "create", "warm", "-f", good); code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("rule create: %d %q %q", code, out, errs)
	}
	for name, c := range map[string]struct{ body, want string }{
		"sql":  {`{"sql": "SELEC device FROM temps", "actions": [{"log": {}}]}`, "line 1, column 1: "},
		"json": {"{\"sql\": \"SELECT * FROM temps\",\n \"actions\": [{\"log\": {}},]}", "line 2, column 26"},
		"kind": {`{"sql": "SELECT * FROM temps", "actions": [{"sms": {}}]}`, "unknown action kind"},
	} {
		code, _, errs := run(t, "rule", "create", "bad-"+name, "-f", write(name+".json", c.body))
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("bad rule (%s): exit %d, stderr %q, want it to mention %q", name, code, errs, c.want)
		}
	}
	if code, _, errs := run(t, "rule", "create", "warm", "-f", good); code == 0 || !strings.Contains(errs, "exists") {
		t.Errorf("duplicate: %d %q", code, errs)
	}

	// The rule runs: a real client's reading turns into an alert.
	alerts := make(chan string, 10)
	o := paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetUsername(testserver.AccessKey).SetPassword(testserver.SecretKey).SetClientID("cli-test")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	c.Subscribe("temps-alerts", 1, func(_ paho.Client, m paho.Message) { alerts <- string(m.Payload()) }).Wait()
	c.Publish("temps/d1", 1, false, `{"device": "d1", "t": 20}`).Wait()
	c.Publish("temps/d2", 1, false, `{"device": "d2", "t": 35}`).Wait()
	select {
	case a := <-alerts:
		if !strings.Contains(a, `"d2"`) {
			t.Fatalf("alert %s", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert")
	}

	if code, out, _ := run(t, "rule", "list"); code != 0 || !strings.Contains(out, "warm") || !strings.Contains(out, "running") {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, out, _ := run(t, "rule", "describe", "warm"); code != 0 || !strings.Contains(out, "in 2, out 1") || !strings.Contains(out, "mqtt temps-alerts: sent 1") {
		t.Fatalf("describe: %d %q", code, out)
	}
	if code, out, _ := run(t, "rule", "stop", "warm"); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	if code, out, _ := run(t, "rule", "start", "warm"); code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("start: %d %q", code, out)
	}
	if code, _, errs := run(t, "sql", "DROP STREAM temps"); code == 0 || !strings.Contains(errs, "warm") {
		t.Fatalf("drop of a stream in use: %d %q", code, errs)
	}
	if code, out, _ := run(t, "rule", "delete", "warm"); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if code, _, errs := run(t, "rule", "describe", "warm"); code == 0 || !strings.Contains(errs, "NoSuchRule") {
		t.Fatalf("describe deleted: %d %q", code, errs)
	}
	if code, _, _ := run(t, "sql", "DROP STREAM temps"); code != 0 {
		t.Fatalf("drop: %d", code)
	}
}
