package e2e

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minicloud/minicloud/internal/mesh"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestSiteRejectsWrongSecret: a process started with another mesh secret, joining through a
// site's node, never becomes a member (no node lists it, it sees no peer, it learns no bucket),
// and a TLS client built from the wrong secret, or from none, cannot read a record over the
// data RPC, while the right secret can.
func TestSiteRejectsWrongSecret(t *testing.T) {
	ctx := testserver.Context(t)
	s := startSite(t, 2)
	t.Cleanup(s.dumpLogs)
	s.createBucket(ctx, "private")
	secret := []byte("only for nodes of this mesh")
	if _, err := sdkClient(s.nodes[0].Endpoint()).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), Body: bytes.NewReader(secret)}); err != nil {
		t.Fatal(err)
	}

	// The intruder and a legitimate node start together and join through s0.
	addr := testserver.FreeAddr(t)
	intruder := &siteNode{Node: &testserver.Node{
		Data: t.TempDir(), Addr: testserver.FreeAddr(t),
		Args: []string{"--mesh", addr, "--node-id", "intruder", "--join", s.nodes[0].Mesh},
		Env:  []string{"MINICLOUD_MESH_SECRET=not-the-site-secret-0123456789abcdef"},
	}, ID: "intruder", Mesh: addr}
	intruder.Init(t)
	intruder.Restart()
	t.Cleanup(intruder.Kill)
	start := time.Now()
	s.add("s2")
	s.waitAlive(ctx, 30*time.Second, s.nodes, s.ids(s.nodes))
	joinTook := time.Since(start)

	// Proving a negative takes a window: watch for three times as long as the legitimate join
	// took (at least 3 s; the intruder retries its join every second all along).
	watch := max(3*joinTook, 3*time.Second)
	for deadline := time.Now().Add(watch); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		for _, n := range s.nodes {
			st, err := status(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if st.state("intruder") != "" {
				t.Fatalf("%s lists the intruder as %q", n.ID, st.state("intruder"))
			}
		}
		st, err := status(ctx, intruder)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range st.Nodes {
			if n.ID != "intruder" && n.State == "alive" {
				t.Fatalf("the intruder sees %s alive", n.ID)
			}
		}
		if st.Buckets != 0 {
			t.Fatalf("the intruder learnt %d buckets", st.Buckets)
		}
	}
	if _, err := sdkClient(intruder.Endpoint()).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")}); err == nil {
		t.Fatal("the intruder serves the site's object")
	}
	t.Logf("legitimate node joined in %.1fs; the intruder stayed out for %.1fs", joinTook.Seconds(), watch.Seconds())

	// The data RPC.
	rpc, err := s.rpcAddr(s.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ownCopy(ctx, s.nodes[0], "private", "k", secret); err != nil {
		t.Fatalf("the right secret cannot read over RPC either, so the rest proves nothing: %v", err)
	}
	_, wrong, err := mesh.TLSConfigs("not-the-site-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", rpc, wrong); err == nil {
		c.Close()
		t.Error("a TLS handshake with the wrong secret's identity succeeded")
	} else {
		t.Logf("wrong secret: handshake fails: %v", err)
	}
	// An attacker would skip checking the server and present its own certificate, or none.
	skip := wrong.Clone()
	skip.InsecureSkipVerify = true
	for name, cfg := range map[string]*tls.Config{
		"wrong certificate": skip,
		"no certificate":    {InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
	} {
		msgs, err := replicate.NewClient(cfg).Key(ctx, rpc, "private", "k")
		if err == nil || len(msgs) > 0 {
			t.Errorf("%s, server unchecked: read %d records over RPC (err %v)", name, len(msgs), err)
		} else {
			t.Logf("%s, server unchecked: request fails: %v", name, err)
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + rpc + "/rpc/key?bucket=private&key=k")
	if err == nil {
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode == 200 || strings.Contains(b.String(), "only for nodes") {
			t.Errorf("plain HTTP to the RPC port answered %d", resp.StatusCode)
		}
	}
}
