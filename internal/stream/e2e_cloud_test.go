package stream_test

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/minicloud/minicloud/internal/stream"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestProcessForwardToCloudAcrossOutage: a stream is forwarded to an S3 bucket upstream (a
// second minicloud process), which is down for a while during publishing. In the end the
// upstream holds every message once, in batch objects under the given prefix.
func TestProcessForwardToCloudAcrossOutage(t *testing.T) {
	edge := startProc(t)
	cloud := testserver.Start(t)
	ctx := t.Context()
	u, _ := url.Parse(cloud.Endpoint())
	s3, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(testserver.AccessKey, testserver.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.MakeBucket(ctx, "upstream", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	edge.cli(t, "stream", "create", "tele", "--topics", "tele/#")
	cmd := exec.Command(testserver.Binary(t), "stream", "forward", "tele", "--to", "s3://upstream/plant1", "--endpoint-url", cloud.Endpoint(), "--endpoint", edge.Endpoint())
	cmd.Env = append(cmd.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey,
		"MINICLOUD_SYNC_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_SYNC_SECRET_KEY="+testserver.SecretKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stream forward: %v\n%s", err, out)
	}
	c := edge.client(t, "pub")
	const n = 400
	for i := 0; i < n; i++ {
		if i == n/4 {
			cloud.Kill()
		}
		if i == n/2 {
			time.Sleep(2 * time.Second) // batches wait in the edge's outbox
			cloud.Restart()
		}
		publish(t, c, "tele/x", fmt.Sprint(i))
		time.Sleep(2 * time.Millisecond)
	}
	var got map[string]int
	deadline := time.Now().Add(90 * time.Second)
	for {
		got = map[string]int{}
		for o := range s3.ListObjects(ctx, "upstream", minio.ListObjectsOptions{Prefix: "plant1/tele/", Recursive: true}) {
			if o.Err != nil {
				break // the upstream is restarting
			}
			obj, err := s3.GetObject(ctx, "upstream", o.Key, minio.GetObjectOptions{})
			if err != nil {
				break
			}
			data, _ := io.ReadAll(obj)
			obj.Close()
			ms, err := stream.DecodeNDJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			for _, m := range ms {
				got[m.Payload]++
			}
		}
		if len(got) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(got) != n {
		t.Fatalf("the upstream holds %d distinct messages, want %d\n%s", len(got), n, edge.cli(t, "stream", "describe", "tele"))
	}
	for p, k := range got {
		if k != 1 {
			t.Fatalf("message %s is upstream %d times", p, k)
		}
	}
	if info := edge.cli(t, "stream", "describe", "tele"); !strings.Contains(info, `"target": "s3://upstream/plant1"`) || strings.Contains(info, "secretKey") {
		t.Fatalf("describe shows the forward wrong (or its secret):\n%s", info)
	}
}
