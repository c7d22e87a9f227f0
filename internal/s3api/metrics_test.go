package s3api

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestMetricsRecorded(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("met")
	e.put("met", "k", "12345")
	_ = e.get("met", "k")
	e.raw("GET", "/met/missing", nil, nil)

	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	requests := map[string]float64{}
	for _, m := range byName["minicloud_s3_requests_total"].GetMetric() {
		requests[label(m, "op")+" "+label(m, "code")] = m.GetCounter().GetValue()
	}
	for _, k := range []string{"CreateBucket 200", "PutObject 200", "GetObject 200", "GetObject 404"} {
		if requests[k] != 1 {
			t.Errorf("requests_total{%s} = %v; all: %v", k, requests[k], requests)
		}
	}
	var observed uint64
	for _, m := range byName["minicloud_s3_request_duration_seconds"].GetMetric() {
		observed += m.GetHistogram().GetSampleCount()
	}
	if observed < 4 {
		t.Errorf("duration observations = %d", observed)
	}
	var in, out float64
	for _, m := range byName["minicloud_s3_received_bytes_total"].GetMetric() {
		if label(m, "op") == "PutObject" {
			in = m.GetCounter().GetValue()
		}
	}
	for _, m := range byName["minicloud_s3_sent_bytes_total"].GetMetric() {
		if label(m, "op") == "GetObject" {
			out += m.GetCounter().GetValue()
		}
	}
	if in < 5 || out < 5 {
		t.Errorf("bytes in %v out %v", in, out)
	}
}
