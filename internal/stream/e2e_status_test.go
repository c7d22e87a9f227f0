package stream_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/node"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestProcessStatusShowsStreams: `minicloud status` (JSON and text) and the Prometheus
// metrics show the broker's connections, each stream's messages in, and per target the
// messages out and the backlog.
func TestProcessStatusShowsStreams(t *testing.T) {
	p := startProc(t)
	p.cli(t, "bucket", "create", "lake")
	p.cli(t, "stream", "create", "tele", "--topics", "tele/#")
	p.cli(t, "stream", "archive", "tele", "--bucket", "lake", "--every", "1s")
	c := p.client(t, "pub")
	for i := 0; i < 25; i++ {
		publish(t, c, "tele/x", fmt.Sprint(i))
	}
	var st node.Status
	eventually(t, 30*time.Second, "the archive ships all 25 messages", func() bool {
		st = node.Status{} // omitted zero fields must not keep old values
		if err := json.Unmarshal([]byte(p.cli(t, "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Edge == nil || len(st.Edge.Streams) != 1 || len(st.Edge.Streams[0].Targets) != 1 {
			return false
		}
		tg := st.Edge.Streams[0].Targets[0]
		return tg.Shipped == 25 && tg.Backlog == 0
	})
	if st.Edge.MQTT == nil || st.Edge.MQTT.Connections < 1 || len(st.Edge.MQTT.Listeners) != 1 || st.Edge.MQTT.MessagesReceived < 25 {
		t.Fatalf("mqtt status: %+v", st.Edge.MQTT)
	}
	if s := st.Edge.Streams[0]; s.Name != "tele" || s.MessagesIn != 25 || !strings.HasPrefix(s.Targets[0].Target, "archive:") {
		t.Fatalf("stream status: %+v", s)
	}
	text := p.cli(t, "status")
	for _, want := range []string{"mqtt on " + p.mqtt, "1 connections", "STREAM", "tele", "25"} {
		if !strings.Contains(text, want) {
			t.Fatalf("status text lacks %q:\n%s", want, text)
		}
	}
	req, _ := http.NewRequest("GET", p.Endpoint()+"/_minicloud/metrics", nil)
	req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`minicloud_stream_messages_in_total{stream="tele"} 25`,
		`minicloud_stream_messages_out_total{stream="tele",target="` + st.Edge.Streams[0].Targets[0].Target + `"} 25`,
		`minicloud_stream_backlog_messages{stream="tele",target="` + st.Edge.Streams[0].Targets[0].Target + `"} 0`,
		"minicloud_mqtt_connections 1",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
