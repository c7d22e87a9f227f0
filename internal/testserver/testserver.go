// Package testserver runs real `minicloud serve` processes for tests: it builds the binary once per
// test binary, starts nodes on free loopback ports with their own data directories, and can kill
// them with SIGKILL and restart them on the same data. Tests only.
package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root credentials every test node is started with.
const (
	AccessKey = "testroot"
	SecretKey = "testroot-secret-key-0123456789"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/minicloud once and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "minicloud-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "minicloud")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/minicloud")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Node is one minicloud process.
type Node struct {
	t    testing.TB
	Data string
	Addr string // S3 host:port
	Args []string
	Env  []string
	// DefaultMQTT leaves --mqtt to the node's default (:1883). Otherwise the node gets no MQTT
	// listener unless Args name one: tests then never contend for the shared default port.
	DefaultMQTT bool
	cmd         *exec.Cmd
	log         *bytes.Buffer
	logMu       sync.Mutex
}

// FreeAddr returns a free loopback host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts a node with a fresh data directory; extra args are passed to serve.
func Start(t testing.TB, extra ...string) *Node {
	t.Helper()
	n := &Node{t: t, Data: t.TempDir(), Addr: FreeAddr(t), Args: extra}
	n.Restart()
	t.Cleanup(n.Kill)
	return n
}

// Init binds a Node built by hand (to set Env or Args before the first start) to its test.
func (n *Node) Init(t testing.TB) { n.t = t }

// Endpoint is the node's S3 URL.
func (n *Node) Endpoint() string { return "http://" + n.Addr }

// Restart starts the process (again) on the same data directory and waits until it serves.
func (n *Node) Restart() {
	n.t.Helper()
	args := []string{"serve", "--data", n.Data, "--s3", n.Addr, "--log-level", "warn"}
	if !n.DefaultMQTT {
		args = append(args, "--mqtt=") // a --mqtt in Args comes later and wins
	}
	args = append(args, n.Args...)
	cmd := exec.Command(Binary(n.t), args...)
	cmd.Env = append(os.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+SecretKey)
	cmd.Env = append(cmd.Env, n.Env...)
	// The previous process's output may still be draining into the old buffer (its pipe copier
	// outlives a SIGKILL briefly): swap under the lock (a race -race found in CI).
	n.logMu.Lock()
	n.log = &bytes.Buffer{}
	n.logMu.Unlock()
	cmd.Stdout = n
	cmd.Stderr = n
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	go cmd.Wait() // reap; Kill checks the process, not this
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.Endpoint() + "/_minicloud/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("node did not serve on %s within 30s; log:\n%s", n.Addr, n.Log())
}

// Write collects the process's output.
func (n *Node) Write(p []byte) (int, error) {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.log.Write(p)
}

// Log returns what the process printed.
func (n *Node) Log() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.log.String()
}

// Kill sends SIGKILL and waits until the process is gone.
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	for i := 0; i < 200; i++ {
		if err := n.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The port must be free before a restart reuses it.
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", n.Addr, 50*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	n.cmd = nil
}

// Context returns a context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Signal sends sig to the running process (e.g. SIGSTOP and SIGCONT to freeze a node without
// closing its sockets).
func (n *Node) Signal(sig syscall.Signal) error {
	if n.cmd == nil || n.cmd.Process == nil {
		return fmt.Errorf("node on %s is not running", n.Addr)
	}
	return n.cmd.Process.Signal(sig)
}
