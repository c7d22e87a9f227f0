package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/testserver"
)

// TestServeDefaultMQTTPort: `minicloud serve` without --mqtt serves MQTT on :1883, where devices
// look first; a second node on the same host finds that port taken, warns and serves on without
// an MQTT listener; a port the user chose that is taken fails start-up with the reason.
func TestServeDefaultMQTTPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts minicloud processes")
	}
	// No other test binds :1883 (testserver gives every node --mqtt= unless told otherwise), but
	// something outside the suite may: then only the second half can be checked.
	if l, err := net.Listen("tcp", ":1883"); err != nil {
		t.Logf("port 1883 is taken outside this test (%v): checking only the node that finds it taken", err)
	} else {
		l.Close()
		first := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), DefaultMQTT: true}
		first.Init(t)
		first.Restart()
		t.Cleanup(first.Kill)
		o := paho.NewClientOptions().AddBroker("tcp://127.0.0.1:1883").SetClientID("default-port").
			SetUsername(testserver.AccessKey).SetPassword(testserver.SecretKey).SetConnectTimeout(5 * time.Second)
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect to the default MQTT port: %v; log:\n%s", tok.Error(), first.Log())
		}
		c.Disconnect(100)
	}

	second := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), DefaultMQTT: true}
	second.Init(t)
	second.Restart() // fails the test unless the node serves S3
	t.Cleanup(second.Kill)
	if !strings.Contains(second.Log(), "the default port is taken") {
		t.Fatalf("no warning about the taken default MQTT port; log:\n%s", second.Log())
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testserver.Binary(t), "serve", "--data", t.TempDir(), "--s3", testserver.FreeAddr(t),
		"--mqtt", taken.Addr().String())
	cmd.Env = append(os.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "listen on --mqtt "+taken.Addr().String()) {
		t.Fatalf("serve with --mqtt on a taken port: err %v, output:\n%s", err, out)
	}
}
