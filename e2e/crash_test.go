package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

// sizeFor spreads objects over inline (small) and chunked (large, several chunks) storage.
func sizeFor(i int) int {
	switch i % 4 {
	case 0:
		return 1000 + i%5000
	case 1:
		return 40000 + i%30000
	case 2:
		return 300000 + i%100000
	default:
		return 2<<20 + i%300000
	}
}

// TestCrashDuringConcurrentPuts kills the server with SIGKILL while 100 clients PUT, restarts it,
// and checks that every acknowledged object reads back byte-identical, that nothing listed is
// partial or wrong, and that no temporary or orphaned data is left.
func TestCrashDuringConcurrentPuts(t *testing.T) {
	n := testserver.Start(t)
	ctx := testserver.Context(t)
	c := minioClient(t, n.Endpoint())
	if err := c.MakeBucket(ctx, "crash", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	putCtx, stop := context.WithCancel(ctx)
	for w := 0; w < 100; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for putCtx.Err() == nil {
				i := int(next.Add(1))
				if i > 20000 {
					return
				}
				key := fmt.Sprintf("obj/%06d", i)
				data := content(key, sizeFor(i))
				_, err := c.PutObject(putCtx, "crash", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
				if err == nil {
					mu.Lock()
					acked[key] = len(data)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	n.Kill()
	stop()
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d PUTs acknowledged before the kill; the test needs load to mean something", len(acked))
	}
	n.Restart()

	// Temporary chunk files from the interrupted PUTs are gone after start-up.
	if ents, _ := os.ReadDir(filepath.Join(n.Data, "blobs", "tmp")); len(ents) != 0 {
		t.Errorf("%d temporary files left after restart", len(ents))
	}
	for key, size := range acked {
		if !readsBack(ctx, t, c, key, size) {
			t.Errorf("acknowledged %s does not read back", key)
		}
	}
	listed := 0
	for o := range c.ListObjects(ctx, "crash", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed++
		var i int
		fmt.Sscanf(o.Key, "obj/%06d", &i)
		if !readsBack(ctx, t, c, o.Key, sizeFor(i)) {
			t.Errorf("listed %s is partial or wrong", o.Key)
		}
	}
	t.Logf("acknowledged before SIGKILL: %d, listed after restart: %d", len(acked), listed)
	if listed < len(acked) {
		t.Errorf("listed %d < acknowledged %d", listed, len(acked))
	}
}

func readsBack(ctx context.Context, t *testing.T, c *minio.Client, key string, size int) bool {
	obj, err := c.GetObject(ctx, "crash", key, minio.GetObjectOptions{})
	if err != nil {
		return false
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	return err == nil && bytes.Equal(got, content(key, size))
}
