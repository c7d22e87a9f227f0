package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

// TestCloudOutboxDrainsAfterOutage: a bucket syncs to an upstream S3 endpoint (a second minicloud
// process). The upstream is killed while writes, overwrites and deletes go on; the outbox holds
// thousands of changes; after the upstream returns the outbox drains to zero and the upstream
// holds exactly the acknowledged final state.
func TestCloudOutboxDrainsAfterOutage(t *testing.T) {
	cloud := testserver.Start(t)
	cloudOutage(t, upstream{endpoint: cloud.Endpoint(), kill: cloud.Kill, restart: cloud.Restart,
		access: testserver.AccessKey, secret: testserver.SecretKey})
}

// upstream is an S3 endpoint a bucket syncs to, that the test can kill and restart.
type upstream struct {
	endpoint       string
	access, secret string
	kill, restart  func()
}

func cloudOutage(t *testing.T, up upstream) {
	ctx := testserver.Context(t)
	edge := testserver.Start(t)
	ce := minioClient(t, edge.Endpoint())
	cc := minioClientCreds(t, up.endpoint, up.access, up.secret)
	for _, mk := range []struct {
		c *minio.Client
		b string
	}{{ce, "upload"}, {cc, "backup"}} {
		if err := mk.c.MakeBucket(ctx, mk.b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(testserver.Binary(t), "bucket", "sync", "upload", "--to", "s3://backup/site1", "--endpoint-url", up.endpoint, "--endpoint", edge.Endpoint())
	cmd.Env = append(cmd.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey,
		"MINICLOUD_SYNC_ACCESS_KEY="+up.access, "MINICLOUD_SYNC_SECRET_KEY="+up.secret)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bucket sync: %v\n%s", err, out)
	}
	var mu sync.Mutex
	want := map[string][]byte{}
	put := func(key string, data []byte) {
		if _, err := ce.PutObject(ctx, "upload", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Errorf("put %s: %v", key, err)
			return
		}
		mu.Lock()
		want[key] = data
		mu.Unlock()
	}
	for i := 0; i < 20; i++ {
		put(fmt.Sprintf("early/%02d", i), content(fmt.Sprint("e", i), 2000))
	}
	eventually(t, 30*time.Second, "first changes upstream", func() bool {
		_, err := getBytes(ctx, cc, "backup", "site1/early/19")
		return err == nil
	})
	up.kill()
	const n = 2000
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				key := fmt.Sprintf("k/%04d", i)
				put(key, content(key, 500+i%3000))
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i := 0; i < n; i += 7 {
		key := fmt.Sprintf("k/%04d", i)
		if err := ce.RemoveObject(ctx, "upload", key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		delete(want, key)
	}
	put("k/0001", []byte("overwritten while the cloud was down"))
	if st := cli(t, edge.Endpoint(), "status"); !strings.Contains(st, "hints pending for cloud:upload:") {
		t.Fatalf("status does not show the cloud backlog:\n%s", st)
	}
	up.restart()
	eventually(t, 120*time.Second, "cloud outbox drained", func() bool {
		return !strings.Contains(cli(t, edge.Endpoint(), "status"), "cloud:")
	})
	got := 0
	for o := range cc.ListObjects(ctx, "backup", minio.ListObjectsOptions{Prefix: "site1/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		key := strings.TrimPrefix(o.Key, "site1/")
		data, ok := want[key]
		if !ok {
			t.Errorf("upstream holds %s, which was deleted", key)
			continue
		}
		b, err := getBytes(ctx, cc, "backup", o.Key)
		if err != nil || !bytes.Equal(b, data) {
			t.Errorf("upstream %s differs: %v", key, err)
		}
		got++
	}
	if got != len(want) {
		t.Errorf("upstream has %d objects, want %d", got, len(want))
	}
	t.Logf("upstream converged on %d objects after %d changes queued during the outage", got, n+n/7+1)
}
