package e2e

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/minicloud/minicloud/internal/testserver"
)

func minioClientCreds(t testing.TB, endpoint, access, secret string) *minio.Client {
	t.Helper()
	u, _ := url.Parse(endpoint)
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// minioBinary finds a MinIO server built by `go install github.com/minio/minio@latest` (bench/s3.sh
// installs one in ~/.cache/minicloud-bench/bin); MINIO_BIN overrides.
func minioBinary() string {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{filepath.Join(home, ".cache/minicloud-bench/bin/minio"), filepath.Join(home, "go/bin/minio")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// TestCloudOutboxToMinIO is the cloud-outage test with MinIO as the upstream cloud. MinIO is not
// on the module path of this project's tests (installing it takes minutes); the test runs when a
// MinIO binary is present (bench/s3.sh installs one) and says so when it is not.
func TestCloudOutboxToMinIO(t *testing.T) {
	bin := minioBinary()
	if bin == "" {
		t.Skip("no MinIO binary: run bench/s3.sh once (it installs one) or set MINIO_BIN")
	}
	addr, console, dir := testserver.FreeAddr(t), testserver.FreeAddr(t), t.TempDir()
	const user, pass = "miniouser", "miniopass-0123456789"
	var cmd *exec.Cmd
	start := func() {
		cmd = exec.Command(bin, "server", dir, "--address", addr, "--console-address", console)
		cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+pass)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get("http://" + addr + "/minio/health/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("MinIO did not start")
	}
	kill := func() {
		cmd.Process.Signal(syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond)
	}
	start()
	t.Cleanup(kill)
	cloudOutage(t, upstream{endpoint: "http://" + addr, access: user, secret: pass, kill: kill, restart: start})
}
