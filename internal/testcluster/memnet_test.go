package testcluster_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/minicloud/minicloud/internal/testcluster"
)

func echo(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte(r.RemoteAddr+":"), b...))
	})
}

func send(rt http.RoundTripper, to, body string) (string, error) {
	req, err := http.NewRequestWithContext(context.Background(), "POST", "https://"+to+"/x", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMemnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		n := testcluster.NewMemnet(rand.New(rand.NewPCG(1, 1)), testcluster.NetConfig{
			MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, CutTimeout: time.Second,
		})
		defer n.Close()
		n.Listen("a", echo(&calls))
		n.Listen("b", echo(&calls))
		rt := n.Transport("a")

		start := time.Now()
		got, err := send(rt, "b", "hi")
		if err != nil || got != "a:hi" {
			t.Fatalf("delivery: %q, %v", got, err)
		}
		if d := time.Since(start); d < 2*time.Millisecond || d > 4*time.Millisecond {
			t.Errorf("round trip took %v, want two one-way delays of 1-2ms", d)
		}

		n.Cut("a", "b")
		start = time.Now()
		if _, err := send(rt, "b", "x"); !errors.Is(err, testcluster.ErrUnreachable) {
			t.Fatalf("across a cut: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("a cut link failed after %v, want the cut timeout", d)
		}
		if n.Linked("b", "a") {
			t.Error("a cut must work both ways")
		}
		n.Heal()
		if _, err := send(rt, "b", "x"); err != nil {
			t.Fatalf("after heal: %v", err)
		}

		n.Down("b")
		start = time.Now()
		if _, err := send(rt, "b", "x"); !errors.Is(err, testcluster.ErrUnreachable) || time.Since(start) != 0 {
			t.Fatalf("to a down node: %v after %v, want refused at once", err, time.Since(start))
		}
		if _, err := send(n.Transport("b"), "a", "x"); err == nil {
			t.Fatal("a down node could still send")
		}

		// Every message lost: about half the requests still ran (their answer was lost).
		n.Configure(testcluster.NetConfig{DropProb: 1, CutTimeout: time.Second})
		before := calls.Load()
		for range 40 {
			if _, err := send(n.Transport("a"), "a", "x"); err == nil {
				t.Fatal("a lost message was answered")
			}
		}
		if ran := calls.Load() - before; ran < 8 || ran > 32 {
			t.Errorf("%d of 40 lost requests reached the handler, want about half", ran)
		}
		if st := n.Stats(); st.Dropped != 40 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// Down waits for handler calls in flight, so a node's store can be closed after it.
func TestMemnetDownWaitsForHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := testcluster.NewMemnet(rand.New(rand.NewPCG(1, 1)), testcluster.NetConfig{})
		defer n.Close()
		release := make(chan struct{})
		var done atomic.Bool
		n.Listen("b", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
			done.Store(true)
		}))
		go send(n.Transport("a"), "b", "x")
		synctest.Wait() // the handler is running
		go func() {
			time.Sleep(time.Second)
			close(release)
		}()
		n.Down("b")
		if !done.Load() {
			t.Fatal("Down returned while a handler was running")
		}
	})
}
