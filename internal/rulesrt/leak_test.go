package rulesrt_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

// Every goroutine the broker and the runtime start ends with Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	db, err := metastore.Open(t.TempDir(), metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _ := iam.Open(db, rootKey, rootSecret)
	before := runtime.NumGoroutine()

	o := mqtt.DefaultOptions()
	o.Keys, o.DataDir = keys, t.TempDir()
	b, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ro := rulesrt.DefaultOptions()
	ro.DB, ro.Broker = db, b
	rt, err := rulesrt.Open(ro)
	if err != nil {
		t.Fatal(err)
	}
	hook := newWebhook(t)
	if _, err := rt.ExecSQL(`CREATE STREAM s (v float) WITH (DATASOURCE="in/#")`); err != nil {
		t.Fatal(err)
	}
	for i, def := range []string{
		`{"sql": "SELECT v FROM s", "actions": [{"rest": {"url": "` + hook.url() + `"}}, {"mqtt": {"topic": "out"}}, {"log": {}}]}`,
		`{"sql": "SELECT count(*) AS n FROM s GROUP BY TUMBLINGWINDOW(ss, 1)", "actions": [{"nop": {}}]}`,
	} {
		if _, err := rt.Create(fmt.Sprint("r", i), []byte(def)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		b.Publish("in/x", []byte(`{"v": 1}`), 0, false)
	}
	waitFor(t, 5*time.Second, "webhook deliveries", func() bool { return len(hook.received()) > 0 })
	rt.Close()
	b.Close()
	hook.down()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
