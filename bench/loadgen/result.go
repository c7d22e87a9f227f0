package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of one workload run.
type Result struct {
	Workload      string                `json:"workload"`
	Endpoint      string                `json:"endpoint"`
	Size          int64                 `json:"size_bytes"`
	Concurrency   int                   `json:"concurrency"`
	Objects       int                   `json:"objects,omitempty"`
	Seconds       float64               `json:"seconds"`
	Ops           int64                 `json:"ops"`
	OpsPerSec     float64               `json:"ops_per_s"`
	MiBPerSec     float64               `json:"mib_per_s"`
	ObjectsPerSec float64               `json:"objects_per_s,omitempty"`
	P50ms         float64               `json:"p50_ms"`
	P90ms         float64               `json:"p90_ms"`
	P99ms         float64               `json:"p99_ms"`
	Errors        int64                 `json:"errors"`
	ErrorSamples  []string              `json:"error_samples,omitempty"`
	ByOp          map[string]*OpSummary `json:"by_op,omitempty"`
}

// OpSummary is one kind of operation within a mixed run.
type OpSummary struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	Errors    int64   `json:"errors"`
}

// newResult summarises a merged recorder over elapsed wall time.
func newResult(cfg *Config, rec *recorder, elapsed time.Duration) *Result {
	secs := max(elapsed.Seconds(), 1e-9)
	t := rec.total()
	p := percentiles(t.lat, 0.5, 0.9, 0.99)
	res := &Result{
		Workload: cfg.Workload, Endpoint: cfg.Endpoint.String(), Size: cfg.Size,
		Concurrency: cfg.Concurrency, Seconds: elapsed.Seconds(),
		Ops: int64(len(t.lat)), OpsPerSec: float64(len(t.lat)) / secs,
		MiBPerSec: float64(t.bytes) / (1 << 20) / secs,
		P50ms:     ms(p[0]), P90ms: ms(p[1]), P99ms: ms(p[2]),
		Errors: t.errors, ErrorSamples: rec.samples,
	}
	if cfg.Workload != "put" {
		res.Objects = cfg.Objects
	}
	if cfg.Workload == "list" {
		res.ObjectsPerSec = float64(t.items) / secs
	}
	if cfg.Workload == "mixed" {
		res.ByOp = summarise(rec, secs)
	}
	return res
}

func summarise(rec *recorder, secs float64) map[string]*OpSummary {
	out := make(map[string]*OpSummary, len(rec.ops))
	for op, s := range rec.ops {
		p := percentiles(s.lat, 0.5, 0.9, 0.99)
		out[op] = &OpSummary{
			Ops: int64(len(s.lat)), OpsPerSec: float64(len(s.lat)) / secs,
			P50ms: ms(p[0]), P90ms: ms(p[1]), P99ms: ms(p[2]), Errors: s.errors,
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeResult prints res as one JSON object or as one line of key=value
// fields (easy for both people and awk).
func writeResult(w io.Writer, res *Result, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "workload=%s size=%s concurrency=%d", res.Workload, formatSize(res.Size), res.Concurrency)
	if res.Objects > 0 {
		fmt.Fprintf(&b, " objects=%d", res.Objects)
	}
	fmt.Fprintf(&b, " seconds=%.1f ops=%d ops/s=%.1f MiB/s=%.2f", res.Seconds, res.Ops, res.OpsPerSec, res.MiBPerSec)
	if res.Workload == "list" {
		fmt.Fprintf(&b, " objects/s=%.0f", res.ObjectsPerSec)
	}
	fmt.Fprintf(&b, " p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f errors=%d", res.P50ms, res.P90ms, res.P99ms, res.Errors)
	for _, op := range slices.Sorted(maps.Keys(res.ByOp)) {
		s := res.ByOp[op]
		fmt.Fprintf(&b, " %s_ops/s=%.1f %s_p99_ms=%.2f", op, s.OpsPerSec, op, s.P99ms)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// reportErrors tells stderr how many operations failed and why.
func reportErrors(w io.Writer, res *Result) {
	if res.Errors == 0 {
		return
	}
	fmt.Fprintf(w, "loadgen: %s: %d operations failed; for example:\n", res.Workload, res.Errors)
	for _, m := range res.ErrorSamples {
		fmt.Fprintf(w, "  %s\n", m)
	}
}
