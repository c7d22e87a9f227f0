package main

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4KiB": 4096, "64MiB": 64 << 20, "1MB": 1e6, "100": 100, "1.5KiB": 1536,
		"2gib": 2 << 30, "10b": 10, "3k": 3000, "0": 0,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "4XB", "1e20"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): want error", in)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{4096: "4KiB", 64 << 20: "64MiB", 1000: "1000B", 0: "0B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, host := range map[string]string{"127.0.0.1:9000": "127.0.0.1:9000", "https://s3.example": "s3.example", "http://h:1/": "h:1"} {
		if u, err := parseEndpoint(in); err != nil || u.Host != host {
			t.Errorf("parseEndpoint(%q) = %v, %v; want host %s", in, u, err, host)
		}
	}
	for _, in := range []string{"ftp://h", "http://h/b", "http://"} {
		if _, err := parseEndpoint(in); err == nil {
			t.Errorf("parseEndpoint(%q): want error", in)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(lat, 0.5, 0.9, 0.99, 1)
	want := []time.Duration{50, 90, 99, 100}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("p%d: got %v, want %v", i, got[i], want[i]*time.Millisecond)
		}
	}
	if z := percentiles(nil, 0.5); z[0] != 0 {
		t.Errorf("empty: got %v", z)
	}
}

func TestMixedOpDistribution(t *testing.T) {
	counts := map[string]int{}
	for r := range 100 {
		counts[mixedOp(r)]++
	}
	want := map[string]int{"get": 45, "put": 15, "stat": 30, "delete": 10}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("%s: %d%%, want %d%%", op, counts[op], n)
		}
	}
}

// TestKeyPoolLendsOnce checks that a key is never lent twice at once and
// that no key is lost, under concurrent use.
func TestKeyPoolLendsOnce(t *testing.T) {
	const n, workers = 16, 8
	pool := newKeyPool(n)
	var mu sync.Mutex
	lent := map[int]bool{}
	lend := func(k int) {
		mu.Lock()
		defer mu.Unlock()
		if lent[k] {
			t.Errorf("key %d lent twice", k)
		}
		lent[k] = true
	}
	unlend := func(k int) { mu.Lock(); delete(lent, k); mu.Unlock() }
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 2000 {
				k, existed, ok := 0, true, false
				if (i+w)%2 == 0 {
					k, ok = pool.takePresent()
				} else {
					k, existed, ok = pool.takeForPut()
				}
				if !ok {
					continue
				}
				lend(k)
				unlend(k)
				pool.give(k, !existed || i%3 != 0) // some lent keys get deleted
			}
		})
	}
	wg.Wait()
	if got := len(pool.present) + len(pool.absent); got != n {
		t.Errorf("pool holds %d keys, want %d", got, n)
	}
}

// TestPayloadBlocksUnique checks that no 4 KiB block repeats across bodies.
func TestPayloadBlocksUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []*payload{newPayload(64 << 10), newPayload(64 << 10)} {
		for range 3 {
			body, err := io.ReadAll(p.next())
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(body); off += stampEvery {
				block := string(body[off : off+stampEvery])
				if seen[block] {
					t.Fatalf("block at %d repeats", off)
				}
				seen[block] = true
			}
		}
	}
	if small := newPayload(10).next(); small.Len() != 10 {
		t.Errorf("10-byte payload has %d bytes", small.Len())
	}
	if !bytes.Equal(make([]byte, 0), mustRead(t, newPayload(0).next())) {
		t.Error("empty payload is not empty")
	}
}

func mustRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
