package mqtt_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/testserver"
)

// procEnv drives a real `minicloud serve` process with --mqtt.
type procEnv struct {
	env
	node *testserver.Node
}

func startProc(t *testing.T) *procEnv {
	if testing.Short() {
		t.Skip("starts a minicloud process")
	}
	addr := testserver.FreeAddr(t)
	node := testserver.Start(t, "--mqtt", addr)
	p := &procEnv{node: node}
	p.env = env{t: t, addr: addr, secrets: map[string]string{testserver.AccessKey: testserver.SecretKey}}
	return p
}

func (p *procEnv) root(id string) *paho.ClientOptions {
	return p.clientOpts(testserver.AccessKey, id)
}

func TestProcessQoSAndCredentials(t *testing.T) {
	p := startProc(t)
	for qos := byte(0); qos <= 2; qos++ {
		in := newInbox()
		wait(t, p.connect(p.root(fmt.Sprint("s", qos))).Subscribe("plant/q", qos, in.handler), "subscribe")
		wait(t, p.connect(p.root(fmt.Sprint("p", qos))).Publish("plant/q", qos, false, "m"), "publish")
		if m := in.waitN(t, 1)[0]; m.qos != qos || m.payload != "m" {
			t.Fatalf("qos %d: got %+v", qos, m)
		}
	}
	tok := paho.NewClient(p.root("bad").SetPassword("wrong")).Connect()
	tok.WaitTimeout(10 * time.Second)
	if tok.Error() == nil || !strings.Contains(tok.Error().Error(), "bad user name or password") {
		t.Fatalf("bad password: %v", tok.Error())
	}
	if code := dialV5(t, p.addr).connect("v5", testserver.AccessKey, "wrong", nil); code != 0x86 {
		t.Fatalf("v5 bad password: CONNACK %#x", code)
	}
}

// A persistent session and a retained message survive kill -9 of the process.
func TestProcessSessionSurvivesKill(t *testing.T) {
	p := startProc(t)
	in := newInbox()
	opts := func() *paho.ClientOptions {
		return p.root("field-unit").SetCleanSession(false).SetDefaultPublishHandler(in.handler)
	}
	c := p.connect(opts())
	wait(t, c.Subscribe("plant/cmd", 1, nil), "subscribe")
	c.Disconnect(100)
	pub := p.connect(p.root("hq"))
	for i := 0; i < 3; i++ {
		wait(t, pub.Publish("plant/cmd", 1, false, fmt.Sprint("cmd", i)), "publish")
	}
	wait(t, pub.Publish("plant/state", 1, true, "retained-state"), "publish retained")
	pub.Disconnect(100)
	time.Sleep(200 * time.Millisecond) // the broker's store writes its log asynchronously

	p.node.Kill()
	p.node.Restart()

	p.connect(opts())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node log:\n%s", p.node.Log())
		}
	})
	got := in.waitN(t, 3)
	for i, m := range got {
		if m.payload != fmt.Sprint("cmd", i) {
			t.Fatalf("after kill -9, message %d = %q (all %v)", i, m.payload, got)
		}
	}
	ret := newInbox()
	wait(t, p.connect(p.root("late")).Subscribe("plant/state", 1, ret.handler), "subscribe")
	if m := ret.waitN(t, 1)[0]; m.payload != "retained-state" {
		t.Fatalf("retained after kill -9: %+v", m)
	}
}

func TestProcessHTTPIngest(t *testing.T) {
	p := startProc(t)
	in := newInbox()
	wait(t, p.connect(p.root("sub")).Subscribe("plant/http/#", 1, in.handler), "subscribe")
	body := "{\"t\":21.5}\n{\"t\":22}\n"

	post := func(path, body string, sign func(*http.Request)) int {
		req, _ := http.NewRequest("POST", p.node.Endpoint()+path, strings.NewReader(body))
		sign(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	basic := func(r *http.Request) { r.SetBasicAuth(testserver.AccessKey, testserver.SecretKey) }
	sigv4 := func(r *http.Request) {
		sum := sha256.Sum256([]byte(body))
		h := hex.EncodeToString(sum[:])
		r.Header.Set("X-Amz-Content-Sha256", h)
		creds := aws.Credentials{AccessKeyID: testserver.AccessKey, SecretAccessKey: testserver.SecretKey}
		v4.NewSigner().SignHTTP(context.Background(), creds, r, h, "s3", "us-east-1", time.Now())
	}
	if s := post("/streams/plant/http/basic", body, basic); s != 200 {
		t.Fatalf("basic: %d", s)
	}
	if s := post("/streams/plant/http/sigv4", body, sigv4); s != 200 {
		t.Fatalf("sigv4: %d", s)
	}
	if s := post("/streams/plant/http/bad", "{\"t\":1}\n{nope\n", basic); s != 400 {
		t.Fatalf("bad JSON: %d", s)
	}
	if s := post("/streams/plant/http/anon", body, func(*http.Request) {}); s != 401 {
		t.Fatalf("anonymous: %d", s)
	}
	got := in.waitN(t, 4)
	in.none2(t, 200*time.Millisecond, 4)
	for _, m := range got {
		if strings.HasSuffix(m.topic, "/bad") || (m.payload != `{"t":21.5}` && m.payload != `{"t":22}`) {
			t.Fatalf("got %+v", m)
		}
	}
}
