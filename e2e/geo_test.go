package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

const geoSecret = "MINICLOUD_MESH_SECRET=geo-test-mesh-secret-0123456789"

func startSiteNode(t *testing.T, site, join string, extra ...string) (*testserver.Node, string) {
	t.Helper()
	mesh := testserver.FreeAddr(t)
	args := append([]string{"--mesh", mesh, "--site", site}, extra...)
	if join != "" {
		args = append(args, "--join", join)
	}
	n := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: args, Env: []string{geoSecret}}
	n.Init(t)
	n.Restart()
	t.Cleanup(n.Kill)
	return n, mesh
}

func cli(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), append(args, "--endpoint", endpoint)...)
	cmd.Env = append(cmd.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("minicloud %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
}

func getBytes(ctx context.Context, c *minio.Client, bucket, key string) ([]byte, error) {
	o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// TestGeoOutboxSurvivesSiteOutage: site b is down while site a takes writes, overwrites and
// deletes of a bucket both host; when b returns it gets exactly a's final state, and a's outbox
// for b drains to zero. Deleted objects never reappear.
func TestGeoOutboxSurvivesSiteOutage(t *testing.T) {
	ctx := testserver.Context(t)
	a, aMesh := startSiteNode(t, "a", "")
	b, _ := startSiteNode(t, "b", aMesh)
	cli(t, a.Endpoint(), "bucket", "create", "geo", "--sites", "a,b")
	ca, cb := minioClient(t, a.Endpoint()), minioClient(t, b.Endpoint())
	eventually(t, 20*time.Second, "bucket known on b", func() bool { ok, _ := cb.BucketExists(ctx, "geo"); return ok })

	put := func(c *minio.Client, key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, "geo", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	put(ca, "before", []byte("x"))
	eventually(t, 20*time.Second, "first object on b", func() bool { _, err := getBytes(ctx, cb, "geo", "before"); return err == nil })

	b.Kill()
	const n = 300
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k%03d", i)
		data := content(key, 100+i*37)
		put(ca, key, data)
		want[key] = data
	}
	for i := 0; i < n; i += 10 { // overwrite some
		key := fmt.Sprintf("k%03d", i)
		data := content(key+"v2", 5000)
		put(ca, key, data)
		want[key] = data
	}
	for i := 5; i < n; i += 10 { // and delete others
		key := fmt.Sprintf("k%03d", i)
		if err := ca.RemoveObject(ctx, "geo", key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		delete(want, key)
	}
	if err := ca.RemoveObject(ctx, "geo", "before", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := cli(t, a.Endpoint(), "status"); !strings.Contains(st, "hints pending for site:b") {
		t.Fatalf("status does not show the outbox for site b:\n%s", st)
	}
	b.Restart()
	eventually(t, 60*time.Second, "outbox for site b drained", func() bool {
		return !strings.Contains(cli(t, a.Endpoint(), "status"), "site:b")
	})
	for key, data := range want {
		got, err := getBytes(ctx, cb, "geo", key)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s on b: %v (%d bytes, want %d)", key, err, len(got), len(data))
		}
	}
	listed := 0
	for o := range cb.ListObjects(ctx, "geo", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if _, ok := want[o.Key]; !ok {
			t.Errorf("b lists %s, which a deleted or never wrote", o.Key)
		}
		listed++
	}
	if listed != len(want) {
		t.Errorf("b lists %d objects, want %d", listed, len(want))
	}
}

// TestForwardToHostingSite: a bucket hosted only by site a is usable through site b's node (it
// forwards), and when a is unreachable b answers 503 ServiceUnavailable rather than a wrong 404.
func TestForwardToHostingSite(t *testing.T) {
	ctx := testserver.Context(t)
	a, aMesh := startSiteNode(t, "a", "")
	b, _ := startSiteNode(t, "b", aMesh)
	cli(t, a.Endpoint(), "bucket", "create", "aonly", "--sites", "a")
	cb := minioClient(t, b.Endpoint())
	eventually(t, 20*time.Second, "bucket known on b", func() bool { ok, _ := cb.BucketExists(ctx, "aonly"); return ok })
	data := content("fwd", 3000)
	if _, err := cb.PutObject(ctx, "aonly", "x", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put through b: %v", err)
	}
	got, err := getBytes(ctx, minioClient(t, a.Endpoint()), "aonly", "x")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object written through b is not on a: %v", err)
	}
	a.Kill()
	retries := minio.MaxRetry
	minio.MaxRetry = 1
	defer func() { minio.MaxRetry = retries }()
	eventually(t, 30*time.Second, "503 from b once a is gone", func() bool {
		_, err := getBytes(ctx, cb, "aonly", "x")
		return err != nil && minio.ToErrorResponse(err).StatusCode == 503
	})
}

// TestAddSiteToBucket: a bucket hosted by site a gains site b later; b receives a copy of every
// existing object and then serves them itself.
func TestAddSiteToBucket(t *testing.T) {
	ctx := testserver.Context(t)
	a, aMesh := startSiteNode(t, "a", "")
	b, _ := startSiteNode(t, "b", aMesh)
	cli(t, a.Endpoint(), "bucket", "create", "grow", "--sites", "a")
	ca := minioClient(t, a.Endpoint())
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("o%02d", i)
		data := content(key, 1000+i*100)
		if _, err := ca.PutObject(ctx, "grow", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := cli(t, a.Endpoint(), "bucket", "sites", "grow", "a,b")
	if !strings.Contains(out, "copying to b") {
		t.Fatalf("bucket sites: %s", out)
	}
	eventually(t, 60*time.Second, "copy to site b finished", func() bool {
		return !strings.Contains(cli(t, a.Endpoint(), "status"), "site:b")
	})
	// The copy may finish before gossip tells b that it hosts the bucket; until then b forwards.
	eventually(t, 30*time.Second, "b knows it hosts the bucket", func() bool {
		return strings.Contains(cli(t, b.Endpoint(), "bucket", "list"), "a,b")
	})
	a.Kill() // b must now serve from its own copy, not by forwarding
	cb := minioClient(t, b.Endpoint())
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("o%02d", i)
		got, err := getBytes(ctx, cb, "grow", key)
		if err != nil || !bytes.Equal(got, content(key, 1000+i*100)) {
			t.Fatalf("%s on b after a is gone: %v", key, err)
		}
	}
}
