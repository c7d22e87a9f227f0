package e2e

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

// TestSloppyQuorumKeepsWritesAvailable: in a 5-node site (RF=3, W=2) two nodes die, so some
// partitions keep only one live replica. Writes still succeed (a healthy non-replica node keeps a
// hint for each dead replica) and, once the two return and the hints are handed over, every
// write reads back from every node.
func TestSloppyQuorumKeepsWritesAvailable(t *testing.T) {
	ctx := testserver.Context(t)
	var nodes []*testserver.Node
	first := ""
	for i := 0; i < 5; i++ {
		mesh := testserver.FreeAddr(t)
		args := []string{"--mesh", mesh, "--node-id", fmt.Sprintf("s%d", i)}
		if first != "" {
			args = append(args, "--join", first)
		} else {
			first = mesh
		}
		n := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: args, Env: []string{geoSecret}}
		n.Init(t)
		n.Restart()
		t.Cleanup(n.Kill)
		nodes = append(nodes, n)
	}
	eventually(t, 30*time.Second, "five nodes alive", func() bool {
		return countAlive(cli(t, nodes[0].Endpoint(), "status")) == 5
	})
	c0 := minioClient(t, nodes[0].Endpoint())
	if err := c0.MakeBucket(ctx, "sloppy", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the bucket reaches every node by gossip
	nodes[3].Kill()
	nodes[4].Kill()
	eventually(t, 30*time.Second, "two nodes seen down", func() bool {
		return countAlive(cli(t, nodes[0].Endpoint(), "status")) == 3
	})
	for i := 0; i < 60; i++ {
		key := fmt.Sprintf("k%02d", i)
		data := content(key, 2000+i)
		c := minioClient(t, nodes[i%3].Endpoint())
		if _, err := c.PutObject(ctx, "sloppy", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s with two nodes down: %v", key, err)
		}
	}
	nodes[3].Restart()
	nodes[4].Restart()
	for _, n := range nodes {
		c := minioClient(t, n.Endpoint())
		eventually(t, 60*time.Second, "every write readable via "+n.Addr, func() bool {
			for i := 0; i < 60; i++ {
				key := fmt.Sprintf("k%02d", i)
				got, err := getBytes(ctx, c, "sloppy", key)
				if err != nil || !bytes.Equal(got, content(key, 2000+i)) {
					return false
				}
			}
			return true
		})
	}
}

func countAlive(status string) int {
	n := 0
	for _, l := range bytes.Split([]byte(status), []byte("\n")) {
		if bytes.Contains(l, []byte(" alive ")) {
			n++
		}
	}
	return n
}
