package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func fakeArgs(srv *httptest.Server, extra ...string) []string {
	return append([]string{"-endpoint", srv.URL, "-access", "a", "-secret", "s",
		"-duration", "300ms", "-concurrency", "4", "-objects", "40", "-size", "5KiB", "-json"}, extra...)
}

func TestRunWorkloads(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, tc := range []struct{ workload, extra string }{
		{"put", ""}, {"put", "-unsigned-payload"}, {"get", ""}, {"mixed", ""}, {"list", ""},
	} {
		t.Run(tc.workload+tc.extra, func(t *testing.T) {
			fake := newFakeS3()
			srv := httptest.NewServer(fake)
			defer srv.Close()
			args := fakeArgs(srv, "-workload", tc.workload, "-cleanup")
			if tc.extra != "" {
				args = append(args, tc.extra)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
			}
			var res Result
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("decode %q: %v", stdout.String(), err)
			}
			checkResult(t, &res)
			if n := len(fake.objs); n != 0 {
				t.Errorf("-cleanup left %d objects", n)
			}
		})
	}
	waitGoroutines(t, before)
}

func checkResult(t *testing.T, res *Result) {
	t.Helper()
	if res.Ops == 0 || res.Errors != 0 || res.P99ms < res.P50ms {
		t.Errorf("result %+v: want ops, no errors, p99 >= p50", res)
	}
	// Both rates share one timed window but are rounded separately: allow 1% for that.
	if res.Workload == "list" && res.ObjectsPerSec < res.OpsPerSec*40*0.99 {
		t.Errorf("list: %.0f objects/s for %.1f listings/s of 40 objects", res.ObjectsPerSec, res.OpsPerSec)
	}
	if res.Workload == "mixed" && len(res.ByOp) != 4 {
		t.Errorf("mixed: by_op %v, want get, put, stat and delete", res.ByOp)
	}
}

// waitGoroutines fails unless the goroutine count falls back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCountsErrors(t *testing.T) {
	fake := newFakeS3()
	fake.failPuts = true
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), fakeArgs(srv, "-workload", "put"), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", stdout.String(), err)
	}
	if res.Errors == 0 || !strings.Contains(stderr.String(), "operations failed") {
		t.Errorf("errors=%d stderr=%q: want errors reported", res.Errors, stderr.String())
	}
}

func TestRunPrepareFailure(t *testing.T) {
	fake := newFakeS3()
	fake.failPuts = true
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), fakeArgs(srv, "-workload", "get"), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "prepare") || stdout.Len() != 0 {
		t.Errorf("stdout=%q stderr=%q: want a prepare error and no result", stdout.String(), stderr.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-workload", "nope", "-access", "a", "-secret", "s"},
		{"-size", "lots", "-access", "a", "-secret", "s"},
		{"-endpoint", "http://h/path", "-access", "a", "-secret", "s"},
		{"-workload", "mixed", "-objects", "3", "-access", "a", "-secret", "s"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
