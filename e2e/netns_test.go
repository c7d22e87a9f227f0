package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

// Real partitions: each site is a Linux network namespace with two links. Its WAN link goes to a
// bridge that joins the sites (198.18.0.0/24); cutting a site off is taking that link down. Its
// LAN link goes to the test (198.19.N.0/30), so the test can keep using a site that is cut off
// from the others, as the site's own devices would. No namespace has a default route, so nothing
// leaks around a cut.

type netSite struct {
	name   string
	ns     string
	wanIP  string // 198.18.0.N: mesh traffic
	lanIP  string // 198.19.N.2: S3 clients
	brPort string // the bridge side of the WAN veth: down = cut
	data   string
	cmd    *exec.Cmd
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func setupSites(t *testing.T, names ...string) []*netSite {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces (ip netns); CI runs as root")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skip("ip netns is not available here: " + err.Error())
	}
	tag := fmt.Sprintf("%d", os.Getpid()%10000)
	br := "mcbr" + tag
	ipCmd(t, "link", "add", br, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	ipCmd(t, "link", "set", br, "up")
	var sites []*netSite
	for i, name := range names {
		n := i + 1
		s := &netSite{name: name, ns: fmt.Sprintf("mc%s%s", tag, name), wanIP: fmt.Sprintf("198.18.0.%d", n),
			lanIP: fmt.Sprintf("198.19.%d.2", n), brPort: fmt.Sprintf("mcw%s%s", tag, name), data: t.TempDir()}
		ipCmd(t, "netns", "add", s.ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", s.ns).Run() })
		ipCmd(t, "link", "add", s.brPort, "type", "veth", "peer", "name", "wan0", "netns", s.ns)
		ipCmd(t, "link", "set", s.brPort, "master", br)
		ipCmd(t, "link", "set", s.brPort, "up")
		lanHost := fmt.Sprintf("mcl%s%s", tag, name)
		ipCmd(t, "link", "add", lanHost, "type", "veth", "peer", "name", "lan0", "netns", s.ns)
		t.Cleanup(func() { exec.Command("ip", "link", "del", lanHost).Run() })
		ipCmd(t, "addr", "add", fmt.Sprintf("198.19.%d.1/30", n), "dev", lanHost)
		ipCmd(t, "link", "set", lanHost, "up")
		for _, c := range [][]string{
			{"addr", "add", s.wanIP + "/24", "dev", "wan0"},
			{"addr", "add", s.lanIP + "/30", "dev", "lan0"},
			{"link", "set", "wan0", "up"}, {"link", "set", "lan0", "up"}, {"link", "set", "lo", "up"},
		} {
			ipCmd(t, append([]string{"-n", s.ns}, c...)...)
		}
		sites = append(sites, s)
	}
	return sites
}

func (s *netSite) start(t *testing.T, join string) {
	t.Helper()
	args := []string{"netns", "exec", s.ns, testserver.Binary(t), "serve", "--data", s.data, "--s3", "0.0.0.0:9000",
		"--mesh", s.wanIP + ":7946", "--site", s.name, "--log-level", "warn"}
	if join != "" {
		args = append(args, "--join", join)
	}
	s.cmd = exec.Command("ip", args...)
	s.cmd.Env = append(os.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey, geoSecret)
	var log bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &log, &log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGKILL); s.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.endpoint() + "/_minicloud/health"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("site %s did not start: %s", s.name, log.String())
}

func (s *netSite) endpoint() string { return "http://" + net.JoinHostPort(s.lanIP, "9000") }

func (s *netSite) cut(t *testing.T)  { ipCmd(t, "link", "set", s.brPort, "down") }
func (s *netSite) heal(t *testing.T) { ipCmd(t, "link", "set", s.brPort, "up") }

type siteOp struct {
	site, key, body string // body "" = delete
}

// TestPartitionedSitesConverge: three sites host two buckets (one versioned). Site a is cut off;
// every site writes, overwrites and deletes; after healing, every site holds the same state, the
// one last-writer-wins predicts from the recorded history, and in the versioned bucket every
// acknowledged version exists everywhere. Then site c is cut off for longer than any timer,
// objects are deleted elsewhere, and after healing none of them reappears anywhere.
func TestPartitionedSitesConverge(t *testing.T) {
	ctx := testserver.Context(t)
	sites := setupSites(t, "a", "b", "c")
	sites[0].start(t, "")
	sites[1].start(t, sites[0].wanIP+":7946")
	sites[2].start(t, sites[0].wanIP+":7946")
	clients := map[string]*minio.Client{}
	for _, s := range sites {
		clients[s.name] = minioClient(t, s.endpoint())
	}
	eventually(t, 30*time.Second, "all sites see each other", func() bool {
		return strings.Count(cli(t, sites[0].endpoint(), "status"), " alive ") == 3
	})
	cli(t, sites[1].endpoint(), "bucket", "create", "lww", "--sites", "a,b,c")
	cli(t, sites[1].endpoint(), "bucket", "create", "vers", "--sites", "a,b,c")
	eventually(t, 30*time.Second, "buckets everywhere", func() bool {
		for _, c := range clients {
			if ok, _ := c.BucketExists(ctx, "vers"); !ok {
				return false
			}
		}
		return true
	})
	if err := clients["b"].SetBucketVersioning(ctx, "vers", minio.BucketVersioningConfiguration{Status: "Enabled"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // versioning state reaches every site by gossip

	do := func(bucket string, op siteOp) string {
		c := clients[op.site]
		if op.body == "" {
			if err := c.RemoveObject(ctx, bucket, op.key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatalf("%s delete %s: %v", op.site, op.key, err)
			}
			return ""
		}
		info, err := c.PutObject(ctx, bucket, op.key, strings.NewReader(op.body), int64(len(op.body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatalf("%s put %s: %v", op.site, op.key, err)
		}
		return info.VersionID
	}
	// Before the cut: a baseline everyone has.
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		do("lww", siteOp{"b", k, "base-" + k})
		do("vers", siteOp{"b", k, "base-" + k})
	}
	eventually(t, 30*time.Second, "baseline on a", func() bool {
		_, err := getBytes(ctx, clients["a"], "lww", "k5")
		return err == nil
	})
	sites[0].cut(t)
	history := []siteOp{
		{"a", "k1", "a1"}, {"b", "k1", "b1"}, {"c", "k2", "c2"}, {"a", "k2", "a2"},
		{"b", "k3", ""}, {"a", "k3", "a3"}, {"c", "k4", ""}, {"a", "k5", ""}, {"b", "k5", "b5"},
		{"a", "new-a", "from a"}, {"c", "new-c", "from c"}, {"a", "k4", "a4"}, {"b", "k4", ""},
	}
	versions := map[string]bool{}
	for _, op := range history {
		time.Sleep(30 * time.Millisecond) // one clock for all sites: time order is HLC order
		do("lww", op)
		if v := do("vers", op); v != "" {
			versions[op.key+"@"+v] = true
		}
	}
	time.Sleep(3 * time.Second) // let the cut-off site's peers give up on it for a while
	if _, err := getBytes(ctx, clients["b"], "lww", "new-a"); err == nil {
		t.Fatal("site b has an object written on a while a was cut off: the cut leaks")
	}
	if _, err := getBytes(ctx, clients["a"], "lww", "new-c"); err == nil {
		t.Fatal("site a has an object written on c while a was cut off: the cut leaks")
	}
	sites[0].heal(t)

	want := map[string]string{"k1": "b1", "k2": "a2", "k3": "a3", "k5": "b5", "new-a": "from a", "new-c": "from c"}
	state := func(site, bucket string) map[string]string {
		out := map[string]string{}
		for o := range clients[site].ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				return nil
			}
			b, err := getBytes(ctx, clients[site], bucket, o.Key)
			if err != nil {
				return nil
			}
			out[o.Key] = string(b)
		}
		return out
	}
	for _, bucket := range []string{"lww", "vers"} {
		for _, s := range sites {
			eventually(t, 60*time.Second, fmt.Sprintf("site %s converges on %s", s.name, bucket), func() bool {
				return fmt.Sprint(state(s.name, bucket)) == fmt.Sprint(want)
			})
		}
	}
	for _, s := range sites {
		eventually(t, 60*time.Second, "every version on site "+s.name, func() bool {
			have := map[string]bool{}
			for o := range clients[s.name].ListObjects(ctx, "vers", minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
				if o.Err != nil {
					return false
				}
				have[o.Key+"@"+o.VersionID] = true
			}
			for v := range versions {
				if !have[v] {
					return false
				}
			}
			return true
		})
	}

	// A long outage: c is cut off for longer than any timer (anti-entropy 15 s, hints 2 s,
	// failure detection ~5 s) while a deletes; nothing deleted may come back when c returns.
	sites[2].cut(t)
	gone := []string{"k1", "k2", "new-c"}
	for _, k := range gone {
		do("lww", siteOp{"a", k, ""})
	}
	time.Sleep(25 * time.Second)
	sites[2].heal(t)
	time.Sleep(20 * time.Second) // a full anti-entropy period after healing
	for _, s := range sites {
		st := state(s.name, "lww")
		var back []string
		for _, k := range gone {
			if _, ok := st[k]; ok {
				back = append(back, k)
			}
		}
		sort.Strings(back)
		if len(back) > 0 {
			t.Errorf("site %s: deleted objects reappeared: %v", s.name, back)
		}
	}
}
