package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/minicloud/minicloud/internal/testserver"
)

// Cross-site repair, drain and tombstone purge (internal/replicate geosync.go, geodrain.go,
// geopurge.go), run every second here instead of every minute.
var fastGeo = []string{"--geo-sync-every", "1s"}

type geoStatusJSON struct {
	Hints map[string]int `json:"hintsPending"`
	Geo   struct {
		Draining         map[string]int   `json:"draining"`
		Drained          map[string]int64 `json:"drained"`
		Repaired         int64            `json:"repaired"`
		TombstonesPurged int64            `json:"tombstones_purged"`
		LastSync         time.Time        `json:"last_sync"`
	} `json:"geo"`
}

func geoStatus(t *testing.T, n *testserver.Node) geoStatusJSON {
	t.Helper()
	var st geoStatusJSON
	out := cli(t, n.Endpoint(), "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// metricsText reads a node's Prometheus metrics (signed like any admin request).
func metricsText(t *testing.T, n *testserver.Node) string {
	t.Helper()
	req, err := http.NewRequest("GET", n.Endpoint()+"/_minicloud/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") // sha256("")
	req = signer.SignV4(*req, testserver.AccessKey, testserver.SecretKey, "", "us-east-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func putN(t *testing.T, ctx context.Context, c *minio.Client, bucket, prefix string, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s%03d", prefix, i)
		data := content(key, 500+i*97)
		if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		want[key] = data
	}
	return want
}

func listKeys(t *testing.T, ctx context.Context, c *minio.Client, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// TestCrossSiteAntiEntropyRepairsLostFeed: site b is added to a bucket by a node of b itself,
// which has no copy to queue, so no outbox entry carries a's objects to b (as if the outbox had
// been lost). The cross-site anti-entropy finds the difference and b ends with every object.
func TestCrossSiteAntiEntropyRepairsLostFeed(t *testing.T) {
	ctx := testserver.Context(t)
	a, aMesh := startSiteNode(t, "a", "", fastGeo...)
	b, _ := startSiteNode(t, "b", aMesh, fastGeo...)
	cli(t, a.Endpoint(), "bucket", "create", "aerepair", "--sites", "a")
	want := putN(t, ctx, minioClient(t, a.Endpoint()), "aerepair", "k", 30)
	eventually(t, 20*time.Second, "bucket known on b", func() bool {
		ok, _ := minioClient(t, b.Endpoint()).BucketExists(ctx, "aerepair")
		return ok
	})
	cli(t, b.Endpoint(), "bucket", "sites", "aerepair", "a,b")
	if st := geoStatus(t, a); st.Hints["site:b"] != 0 {
		t.Fatalf("a queued %d changes for b; the test needs none", st.Hints["site:b"])
	}
	cb := minioClient(t, b.Endpoint())
	eventually(t, 60*time.Second, "b has every object through cross-site anti-entropy", func() bool {
		for key, data := range want {
			got, err := getBytes(ctx, cb, "aerepair", key)
			if err != nil || !bytes.Equal(got, data) {
				return false
			}
		}
		return true
	})
	if st := geoStatus(t, a); st.Geo.Repaired < int64(len(want)) {
		t.Errorf("a reports %d records repaired, want >= %d", st.Geo.Repaired, len(want))
	}
	a.Kill() // b serves its own copy now
	for key, data := range want {
		if got, err := getBytes(ctx, cb, "aerepair", key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s on b without a: %v", key, err)
		}
	}
}

// TestRemoveSiteFromBucket: site b is removed from a bucket while it holds writes a has not seen
// (a was down). b hands everything to a before dropping its copy, shows the progress, and
// forwards the bucket's requests to a afterwards.
func TestRemoveSiteFromBucket(t *testing.T) {
	ctx := testserver.Context(t)
	a, aMesh := startSiteNode(t, "a", "", fastGeo...)
	b, _ := startSiteNode(t, "b", aMesh, fastGeo...)
	cli(t, a.Endpoint(), "bucket", "create", "shrink", "--sites", "a,b")
	ca, cb := minioClient(t, a.Endpoint()), minioClient(t, b.Endpoint())
	eventually(t, 20*time.Second, "bucket known on b", func() bool { ok, _ := cb.BucketExists(ctx, "shrink"); return ok })
	want := putN(t, ctx, ca, "shrink", "a", 40)
	eventually(t, 30*time.Second, "a's objects on b", func() bool { return len(listKeys(t, ctx, cb, "shrink")) == 40 })

	a.Kill()
	for k, v := range putN(t, ctx, cb, "shrink", "b", 10) { // only b has these
		want[k] = v
	}
	out := cli(t, b.Endpoint(), "bucket", "sites", "shrink", "a")
	if !bytes.Contains([]byte(out), []byte("hosted by a")) {
		t.Fatalf("bucket sites: %s", out)
	}
	eventually(t, 20*time.Second, "b shows the drain waiting for a", func() bool {
		return geoStatus(t, b).Geo.Draining["shrink"] > 0
	})
	a.Restart()
	eventually(t, 60*time.Second, "b has handed everything over", func() bool {
		st := geoStatus(t, b)
		return st.Geo.Draining["shrink"] == 0 && st.Geo.Drained["shrink"] >= int64(len(want))
	})
	for _, c := range []*minio.Client{ca, cb} { // b forwards to a
		keys := listKeys(t, ctx, c, "shrink")
		if len(keys) != len(want) {
			t.Fatalf("%d keys listed, want %d", len(keys), len(want))
		}
		for key, data := range want {
			if got, err := getBytes(ctx, c, "shrink", key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s after the drain: %v", key, err)
			}
		}
	}
	if st := cli(t, b.Endpoint(), "status"); bytes.Contains([]byte(st), []byte("draining bucket shrink")) {
		t.Errorf("status still shows a drain:\n%s", st)
	}
}

// TestTombstonesOutliveSiteOutage: site b is offline far longer than every timer (sync period,
// tombstone grace, retry backoff) while a deletes objects. No tombstone may be purged meanwhile;
// when b returns, no deleted object reappears anywhere, and the tombstones are purged once b has
// them.
func TestTombstonesOutliveSiteOutage(t *testing.T) {
	ctx := testserver.Context(t)
	args := append([]string{"--tombstone-grace", "1s"}, fastGeo...)
	a, aMesh := startSiteNode(t, "a", "", args...)
	b, _ := startSiteNode(t, "b", aMesh, args...)
	cli(t, a.Endpoint(), "bucket", "create", "tomb", "--sites", "a,b")
	ca, cb := minioClient(t, a.Endpoint()), minioClient(t, b.Endpoint())
	eventually(t, 20*time.Second, "bucket known on b", func() bool { ok, _ := cb.BucketExists(ctx, "tomb"); return ok })
	want := putN(t, ctx, ca, "tomb", "k", 20)
	eventually(t, 30*time.Second, "objects on b", func() bool { return len(listKeys(t, ctx, cb, "tomb")) == 20 })

	b.Kill()
	for i := 0; i < 20; i += 2 {
		key := fmt.Sprintf("k%03d", i)
		if err := ca.RemoveObject(ctx, "tomb", key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		delete(want, key)
	}
	// Outlast every timer: ten cross-site rounds, each well past the tombstone grace.
	start := geoStatus(t, a).Geo.LastSync
	rounds := 0
	eventually(t, 60*time.Second, "ten cross-site rounds on a while b is down", func() bool {
		if st := geoStatus(t, a).Geo.LastSync; st.After(start) {
			start, rounds = st, rounds+1
		}
		return rounds >= 10
	})
	if n := geoStatus(t, a).Geo.TombstonesPurged; n != 0 {
		t.Fatalf("a purged %d tombstones while b, which does not have them, was down", n)
	}
	b.Restart()
	shippedRE := regexp.MustCompile(`minicloud_geo_shipped_records_total\{target="site:b"\} (\d+)`)
	eventually(t, 60*time.Second, "a's metrics count the changes shipped to b", func() bool {
		m := shippedRE.FindStringSubmatch(metricsText(t, a))
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return n >= 30 // 20 objects before the outage, 10 deletes after it
	})
	if !strings.Contains(metricsText(t, a), `minicloud_geo_shipped_age_seconds_bucket{target="site:b"`) {
		t.Error("a's metrics have no shipping age histogram for site b")
	}
	eventually(t, 60*time.Second, "tombstones purged on both sites once b has them", func() bool {
		return geoStatus(t, a).Geo.TombstonesPurged >= 10 && geoStatus(t, b).Geo.TombstonesPurged >= 10
	})
	// A few more rounds in both directions after the purge: nothing deleted comes back.
	start, rounds = geoStatus(t, b).Geo.LastSync, 0
	eventually(t, 30*time.Second, "three more rounds on b", func() bool {
		if st := geoStatus(t, b).Geo.LastSync; st.After(start) {
			start, rounds = st, rounds+1
		}
		return rounds >= 3
	})
	for name, c := range map[string]*minio.Client{"a": ca, "b": cb} {
		keys := listKeys(t, ctx, c, "tomb")
		if len(keys) != len(want) {
			t.Errorf("site %s lists %d keys, want %d: %v", name, len(keys), len(want), keys)
		}
		for _, k := range keys {
			if _, ok := want[k]; !ok {
				t.Errorf("site %s: deleted object %s reappeared", name, k)
			}
		}
	}
}

// TestForwardVirtualHosted: a virtual-hosted-style request (bucket.DOMAIN) for a bucket hosted
// only by site a, sent to site b's node, is forwarded to a like a path-style one.
func TestForwardVirtualHosted(t *testing.T) {
	ctx := testserver.Context(t)
	const domain = "s3.minicloud.test"
	a, aMesh := startSiteNode(t, "a", "", "--domain", domain)
	b, _ := startSiteNode(t, "b", aMesh, "--domain", domain)
	cli(t, a.Endpoint(), "bucket", "create", "vhost", "--sites", "a")
	// Every name under the domain resolves to b's node.
	bAddr := b.Addr
	_, port, _ := net.SplitHostPort(bAddr)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, bAddr)
	}}
	u, _ := url.Parse("http://" + net.JoinHostPort(domain, port))
	vc, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(testserver.AccessKey, testserver.SecretKey, ""),
		Region: "us-east-1", Transport: tr, BucketLookup: minio.BucketLookupDNS,
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "bucket known on b", func() bool {
		return slices.Contains(listBucketNames(t, ctx, minioClient(t, b.Endpoint())), "vhost")
	})
	data := content("vh", 2000)
	if _, err := vc.PutObject(ctx, "vhost", "x", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("virtual-hosted put through b: %v", err)
	}
	got, err := getBytes(ctx, minioClient(t, a.Endpoint()), "vhost", "x")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object written through b is not on a: %v", err)
	}
	if got, err := getBytes(ctx, vc, "vhost", "x"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("virtual-hosted get through b: %v", err)
	}
}

func listBucketNames(t *testing.T, ctx context.Context, c *minio.Client) []string {
	t.Helper()
	bs, err := c.ListBuckets(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}
