package replicate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/mesh"
	"github.com/minicloud/minicloud/internal/object"
)

// rpcPeer is a Server with its own store on loopback, speaking the mesh TLS of secret.
type rpcPeer struct {
	store *object.Store
	srv   *Server
	addr  string
	done  chan error
}

func startPeer(t *testing.T, dir, addr, secret string) *rpcPeer {
	t.Helper()
	st, err := object.Open(dir, object.Options{NodeID: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, _, err := mesh.TLSConfigs(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(addr, serverTLS, st)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	p := &rpcPeer{store: st, srv: srv, addr: srv.Addr(), done: make(chan error, 1)}
	go func() { p.done <- srv.Serve() }()
	return p
}

func (p *rpcPeer) stop(t *testing.T) {
	t.Helper()
	if err := p.srv.Close(); err != nil {
		t.Errorf("close server: %v", err)
	}
	if err := <-p.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	p.store.Close()
}

func client(t *testing.T, secret string) *Client {
	t.Helper()
	_, clientTLS, err := mesh.TLSConfigs(secret)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(clientTLS)
	t.Cleanup(c.Close)
	return c
}

// records makes n objects of size bytes in a scratch store and returns their records (whole).
func records(t *testing.T, n, size int) []object.RecordMsg {
	t.Helper()
	ctx := context.Background()
	src, err := object.Open(t.TempDir(), object.Options{NodeID: "src"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	var out []object.RecordMsg
	for i := range n {
		key := fmt.Sprintf("k%03d", i)
		data := bytes.Repeat([]byte{byte(i)}, size)
		if _, err := src.PutObject(ctx, "bkt", key, bytes.NewReader(data), int64(size), object.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		msgs, _, err := src.StoredRecords("bkt", key, true)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("records of %s: %v %v", key, msgs, err)
		}
		out = append(out, msgs[0])
	}
	return out
}

// The binary operations over the framed protocol: merges land, heads come without inline data,
// a record comes whole, and the connection used was a framed one.
func TestFramedOps(t *testing.T) {
	ctx := context.Background()
	p := startPeer(t, t.TempDir(), "127.0.0.1:0", "secret-a")
	defer p.stop(t)
	if err := p.store.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	c := client(t, "secret-a")
	recs := records(t, 20, 3000)
	outs, err := c.Merges(ctx, p.addr, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("merge %d: %v", i, o.err)
		}
	}
	if pf := c.frames.m[p.addr]; pf == nil || pf.conn == nil {
		t.Fatal("the client did not use a framed connection")
	}
	heads, cut, err := c.Heads(ctx, p.addr, "bkt", "k007", false)
	if err != nil || len(heads) != 1 || !cut[0] {
		t.Fatalf("heads = %v %v %v, want one cut head", heads, cut, err)
	}
	if len(heads[0].Enc) >= len(recs[7].Enc) {
		t.Fatalf("a head of %d bytes for a record of %d", len(heads[0].Enc), len(recs[7].Enc))
	}
	whole, err := c.Record(ctx, p.addr, heads[0])
	if err != nil || !bytes.Equal(whole.Enc, recs[7].Enc) {
		t.Fatalf("record = %v, want the whole record", err)
	}
	if _, err := c.Record(ctx, p.addr, object.RecordMsg{Bucket: "bkt", Key: "absent"}); !errors.Is(err, object.ErrNoRecord) {
		t.Fatalf("record of an absent key: %v", err)
	}
	if _, err := c.frames.call(ctx, p.addr, "no-such-op", nil); err == nil {
		t.Fatal("an unknown operation succeeded")
	}
	// Many callers at once share the connection.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				key := fmt.Sprintf("k%03d", (g+i)%20)
				h, _, err := c.Heads(ctx, p.addr, "bkt", key, true)
				if err == nil && (len(h) != 1 || h[0].Key != key) {
					err = fmt.Errorf("heads of %s: %v", key, h)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A client without the mesh secret can neither read nor write over the framed protocol (I6).
func TestFramedRefusesOtherSecret(t *testing.T) {
	ctx := context.Background()
	p := startPeer(t, t.TempDir(), "127.0.0.1:0", "secret-a")
	defer p.stop(t)
	if err := p.store.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	c := client(t, "secret-b")
	if _, err := c.Merges(ctx, p.addr, records(t, 1, 10)); err == nil {
		t.Fatal("a merge with another mesh secret succeeded")
	}
	if _, _, err := c.Heads(ctx, p.addr, "bkt", "k000", true); err == nil {
		t.Fatal("a read with another mesh secret succeeded")
	}
	if msgs, _, _ := p.store.StoredRecords("bkt", "k000", true); len(msgs) != 0 {
		t.Fatal("the refused merge changed the store")
	}
}

// A peer that restarts leaves the client a dead connection: the next call redials.
func TestFramedReconnects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startPeer(t, dir, "127.0.0.1:0", "secret-a")
	if err := p.store.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	c := client(t, "secret-a")
	if _, _, err := c.Heads(ctx, p.addr, "bkt", "k", false); err != nil {
		t.Fatal(err)
	}
	addr := p.addr
	p.stop(t)
	if _, _, err := c.Heads(ctx, addr, "bkt", "k", false); err == nil {
		t.Fatal("a call to a stopped peer succeeded")
	}
	p = startPeer(t, dir, addr, "secret-a")
	defer p.stop(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := c.Heads(ctx, addr, "bkt", "k", false)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful call within 10s of the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []frame{
		{id: 1, kind: kindRequest, op: opHeads, body: []byte("abc")},
		{id: 1 << 60, kind: kindOK, body: nil},
		{id: 7, kind: kindErr, body: []byte("boom")},
	} {
		b := appendFrame(nil, f)
		got, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil || got.id != f.id || got.kind != f.kind || got.op != f.op || !bytes.Equal(got.body, f.body) {
			t.Errorf("frame %+v came back as %+v, %v", f, got, err)
		}
	}
	// An oversized length is refused before anything is allocated for it.
	if _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}))); !errors.Is(err, errFrame) {
		t.Fatalf("oversized frame: %v", err)
	}
}

// FuzzFrame feeds arbitrary peer input to the frame reader: an error or a frame, never a panic,
// and a frame it accepts lays out again into bytes it reads back the same.
func FuzzFrame(f *testing.F) {
	f.Add(appendFrame(nil, frame{id: 3, kind: kindRequest, op: opMerges, body: []byte{1, 2, 3}}))
	f.Add(appendFrame(nil, frame{id: 9, kind: kindOK, body: []byte("x")}))
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			fr, err := readFrame(r)
			if err != nil {
				return
			}
			again, err := readFrame(bufio.NewReader(bytes.NewReader(appendFrame(nil, fr))))
			if err != nil || again.id != fr.id || again.kind != fr.kind || again.op != fr.op || !bytes.Equal(again.body, fr.body) {
				t.Fatalf("frame %+v laid out again reads as %+v, %v", fr, again, err)
			}
		}
	})
}

// headsAsync answers through its callback: on the open framed connection, over a fresh one (the
// first call dials in the background), concurrently with synchronous calls, with a list op on the
// same connection, and with an error once the peer is gone (the callback is never left waiting
// on a broken connection).
func TestFramedAsyncHeads(t *testing.T) {
	ctx := context.Background()
	p := startPeer(t, t.TempDir(), "127.0.0.1:0", "secret-a")
	if err := p.store.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	c := client(t, "secret-a")
	type res struct {
		msgs []object.RecordMsg
		err  error
	}
	ask := func(key string) res {
		ch := make(chan res, 1)
		c.headsAsync(ctx, p.addr, "bkt", key, true, func(m []object.RecordMsg, _ []bool, err error) { ch <- res{m, err} })
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no answer within 10s")
			return res{}
		}
	}
	if r := ask("k001"); r.err != nil || len(r.msgs) != 0 {
		t.Fatalf("heads of an absent key before any connection: %v %v", r.msgs, r.err)
	}
	recs := records(t, 20, 100)
	if _, err := c.Merges(ctx, p.addr, recs); err != nil {
		t.Fatal(err)
	}
	if c.frames.open(p.addr) == nil {
		t.Fatal("no open framed connection after a call")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%03d", g%20)
			if r := ask(key); r.err != nil || len(r.msgs) != 1 || r.msgs[0].Key != key || !bytes.Equal(r.msgs[0].Enc, recs[g%20].Enc) {
				errs <- fmt.Errorf("async heads of %s: %v %v", key, r.msgs, r.err)
			}
			if msgs, _, err := c.List(ctx, p.addr, "bkt", "", "", 1000); err != nil || len(msgs) != 20 {
				errs <- fmt.Errorf("list: %d records, %v", len(msgs), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, err := c.List(ctx, p.addr, "nobucket", "", "", 10); !errors.Is(err, object.ErrNoSuchBucket) {
		t.Fatalf("list of an unknown bucket: %v", err)
	}
	p.stop(t)
	if r := ask("k001"); r.err == nil {
		t.Fatal("async heads from a stopped peer succeeded")
	}
}
