package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSites is two fake S3 endpoints: a PUT at site A shows up in site B's listings after delay
// (never, for keys that drop says so). Only what geoload uses: bucket HEAD, object PUT, and
// ListObjectsV2 with prefix, start-after and continuation. No signatures are checked.
type fakeSites struct {
	delay time.Duration
	drop  func(key string) bool

	mu     sync.Mutex
	b      map[string]bool
	timers []*time.Timer
}

func (f *fakeSites) siteA(w http.ResponseWriter, r *http.Request) {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if key == "" {
		return // bucket HEAD
	}
	if r.Method != http.MethodPut {
		http.Error(w, "not implemented", http.StatusNotImplemented)
		return
	}
	io.Copy(io.Discard, r.Body)
	if f.drop == nil || !f.drop(key) {
		f.mu.Lock()
		f.timers = append(f.timers, time.AfterFunc(f.delay, func() {
			f.mu.Lock()
			f.b[key] = true
			f.mu.Unlock()
		}))
		f.mu.Unlock()
	}
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
}

type listResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	Name                  string
	Prefix                string
	KeyCount              int
	MaxKeys               int
	IsTruncated           bool
	NextContinuationToken string `xml:",omitempty"`
	Contents              []listEntry
}

type listEntry struct {
	Key          string
	Size         int
	ETag         string
	LastModified string
}

func (f *fakeSites) siteB(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if key != "" || r.Method == http.MethodHead {
		return
	}
	q := r.URL.Query()
	after := q.Get("start-after")
	if t := q.Get("continuation-token"); t != "" {
		after = t
	}
	maxKeys, _ := strconv.Atoi(q.Get("max-keys"))
	if maxKeys <= 0 {
		maxKeys = 1000
	}
	f.mu.Lock()
	var keys []string
	for k := range f.b {
		if strings.HasPrefix(k, q.Get("prefix")) && k > after {
			keys = append(keys, k)
		}
	}
	f.mu.Unlock()
	sort.Strings(keys)
	res := listResult{Name: bucket, Prefix: q.Get("prefix"), MaxKeys: maxKeys}
	if len(keys) > maxKeys {
		keys = keys[:maxKeys]
		res.IsTruncated = true
		res.NextContinuationToken = keys[len(keys)-1]
	}
	for _, k := range keys {
		res.Contents = append(res.Contents, listEntry{Key: k, Size: 1, ETag: `"x"`, LastModified: "2025-01-01T00:00:00.000Z"})
	}
	res.KeyCount = len(res.Contents)
	w.Header().Set("Content-Type", "application/xml")
	xml.NewEncoder(w).Encode(res)
}

func (f *fakeSites) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.timers {
		t.Stop()
	}
}

func startSites(t *testing.T, f *fakeSites) (a, b string) {
	f.b = map[string]bool{}
	sa := httptest.NewServer(http.HandlerFunc(f.siteA))
	sb := httptest.NewServer(http.HandlerFunc(f.siteB))
	t.Cleanup(func() {
		f.stop()
		sa.Close()
		sb.Close()
	})
	return sa.URL, sb.URL
}

func fields(line string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = v
	}
	return out
}

func num(t *testing.T, m map[string]string, k string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(m[k], 64)
	if err != nil {
		t.Fatalf("field %s=%q in %v: %v", k, m[k], m, err)
	}
	return v
}

// noLeaks checks that the goroutines a test started are gone.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestLagAndPacing(t *testing.T) {
	noLeaks(t)
	f := &fakeSites{delay: 40 * time.Millisecond}
	a, b := startSites(t, f)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-a", a, "-b", b, "-lag", "-access", "k", "-secret", "s",
		"-rate", "200", "-duration", "1s", "-size", "5KiB", "-poll", "5ms", "-drain", "5s"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out.String(), errOut.String())
	}
	m := fields(out.String())
	if num(t, m, "puts") != 200 || num(t, m, "errors") != 0 || num(t, m, "unseen") != 0 {
		t.Fatalf("want 200 PUTs, no errors, all seen: %s", out.String())
	}
	if s := num(t, m, "seconds"); s < 0.99 || s > 10 { // paced: never faster; slower only by load
		t.Errorf("200 PUTs at 200/s took %vs; want about 1s: %s", s, out.String())
	}
	// The lower bound shows the lag counts the fake's delay; the upper one is only the drain
	// limit: on a loaded machine the polls themselves take hundreds of milliseconds (a bound of
	// 500 ms failed in CI at load average 25), and speed is bench/geo.sh's business.
	if p50 := num(t, m, "lag_p50_ms"); p50 < 35 || p50 > 5000 {
		t.Errorf("lag p50 %vms; the fake replicates after 40ms: %s", p50, out.String())
	}
}

func TestUnseenKeysFail(t *testing.T) {
	noLeaks(t)
	f := &fakeSites{delay: time.Millisecond, drop: func(k string) bool { return strings.HasSuffix(k, "0") }}
	a, b := startSites(t, f)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-a", a, "-b", b, "-lag", "-access", "k", "-secret", "s",
		"-rate", "100", "-duration", "500ms", "-poll", "5ms", "-drain", "200ms"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (keys never replicated); stdout %q; stderr %q", code, out.String(), errOut.String())
	}
	if m := fields(out.String()); num(t, m, "unseen") != 5 {
		t.Fatalf("want 5 of 50 keys unseen: %s", out.String())
	}
}

func TestPutOnly(t *testing.T) {
	noLeaks(t)
	a, _ := startSites(t, &fakeSites{})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-a", a, "-access", "k", "-secret", "s", "-rate", "100", "-duration", "300ms", "-unsigned-payload"}, &out, &errOut)
	m := fields(out.String())
	if code != 0 || num(t, m, "puts") != 30 || m["lag_p50_ms"] != "" {
		t.Fatalf("exit %d; want 30 PUTs and no lag fields: %q %q", code, out.String(), errOut.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-lag"},
		{"-rate", "0"},
		{"-size", "lots"},
		{"-a", "ftp://x"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"-access", "k", "-secret", "s"}, args...), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}
