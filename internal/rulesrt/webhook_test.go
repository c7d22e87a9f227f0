package rulesrt_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// webhook is a real HTTP receiver on a fixed loopback port that can go down (its port closed:
// connections refused) and come back on the same port.
type webhook struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	got  []string
	srv  *http.Server
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	w.serve(ln)
	t.Cleanup(w.down)
	return w
}

func (w *webhook) url() string { return "http://" + w.addr + "/alert" }

func (w *webhook) serve(ln net.Listener) {
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(rw, "want JSON", 415)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, string(b))
		w.mu.Unlock()
	})}
	go w.srv.Serve(ln)
}

func (w *webhook) down() {
	if w.srv != nil {
		w.srv.Close()
		w.srv = nil
	}
}

func (w *webhook) up() {
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", w.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.serve(ln)
}

func (w *webhook) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}
