package testcluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// A node joining a site with an empty disk sees only itself until gossip brings the member list.
// It must serve nothing on that partial view (a write would be "acknowledged" by itself alone),
// and once it sees the site its previous layout is the site's real one, taken from a peer, not
// the partial list it saw first: reads through it then find the data on the old replicas at once.
func TestJoiningNodeAdoptsSiteLayout(t *testing.T) {
	bubble(t, func(t *testing.T) {
		ctx := context.Background()
		c := testcluster.New(t, testcluster.Options{
			Nodes: 3, Rand: rand.New(rand.NewPCG(14, 14)), Detection: 1, Dir: dataDir(t),
		})
		c.CreateBucket("plain", "")
		var keys []string
		for i := range 20 {
			k := fmt.Sprintf("k%02d", i)
			keys = append(keys, k)
			if _, err := c.Store(i%3).PutObject(ctx, "plain", k, bytes.NewReader([]byte(k)), int64(len(k)), object.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		j := c.Join()
		body := []byte("written through a node that knows only itself")
		if _, err := c.Store(j).PutObject(ctx, "plain", "early", bytes.NewReader(body), int64(len(body)), object.PutOptions{}); !errors.Is(err, s3err.ServiceUnavailable) {
			t.Fatalf("PUT through the joining node before it saw the site: %v, want ServiceUnavailable", err)
		}
		c.Gossip()
		for i := range 3 {
			cur, prev := c.Store(i).Layout()
			if len(cur) != 4 || !slices.Equal(prev, []string{"n0", "n1", "n2"}) {
				t.Fatalf("n%d's layout after the join: %v, previous %v", i, cur, prev)
			}
		}
		// Reads through the new node work at once: they find the data on the old replicas.
		for _, k := range keys {
			if got := get(t, c.Store(j), k); string(got) != k {
				t.Fatalf("GET %s via the new node: %q", k, got)
			}
		}
		cur, prev := c.Store(j).Layout()
		if !slices.Equal(cur, []string{"n0", "n1", "n2", "n3"}) || !slices.Equal(prev, []string{"n0", "n1", "n2"}) {
			t.Fatalf("the new node's layout: %v, previous %v; want the site's previous layout [n0 n1 n2]", cur, prev)
		}
		time.Sleep(time.Millisecond) // rounds that began after the change end the transition
		c.Settle(ctx, 2)
		if c.Bootstrapping(j) {
			t.Fatal("the new node is still bootstrapping after anti-entropy with every replica")
		}
		for i := range c.N() {
			if _, prev := c.Store(i).Layout(); prev != nil {
				t.Errorf("n%d still in a layout transition after anti-entropy: previous %v", i, prev)
			}
		}
		for _, k := range keys {
			for _, i := range c.Replicas("plain", k) {
				if recs, _ := c.Node(i).Objects.KeyRecords("plain", k); len(recs) != 1 {
					t.Errorf("%s: replica n%d holds %s", k, i, describe(recs))
				}
			}
		}
	})
}
