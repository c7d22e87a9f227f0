package replicate

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/object"
)

// Geo-replication metrics besides the per-target backlog and lag (metrics.go): records and
// bytes shipped per target site, how long a shipped change waited in the outbox (its age when
// the other site acknowledged it, the replication lag as this site sees it), and the cross-site
// repair, drain and purge counters.

type shipStats struct {
	mu      sync.Mutex
	targets map[string]*targetStats
}

type targetStats struct {
	records, bytes atomic.Int64
	lag            prometheus.Histogram
}

var lagBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}

func (g *shipStats) target(t string) *targetStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.targets == nil {
		g.targets = map[string]*targetStats{}
	}
	ts, ok := g.targets[t]
	if !ok {
		ts = &targetStats{lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "minicloud_geo_shipped_age_seconds", Help: "Time from a change's write to its acknowledgement by the target (site:NAME or cloud:BUCKET:ID).",
			Buckets: lagBuckets, ConstLabels: prometheus.Labels{"target": t},
		})}
		g.targets[t] = ts
	}
	return ts
}

// recordShipped counts hints delivered to target and observes their age.
func (s *Store) recordShipped(target string, hs []object.Hint) {
	ts := s.geo.ships.target(target)
	ts.records.Add(int64(len(hs)))
	now := time.Now()
	cloud := strings.HasPrefix(target, cloudPrefix)
	for _, h := range hs {
		if !cloud { // a cloud entry is a reference: shipToCloud counts the object's bytes
			ts.bytes.Add(int64(len(h.Msg.Enc)))
		}
		ts.lag.Observe(now.Sub(h.Msg.Version.TS.Physical()).Seconds())
	}
}

// GeoCollector exposes the geo-replication metrics to Prometheus.
func (s *Store) GeoCollector() prometheus.Collector { return (*geoCollector)(s) }

type geoCollector Store

var (
	descGeoRecords = prometheus.NewDesc("minicloud_geo_shipped_records_total", "Records delivered to another site or a cloud target.", []string{"target"}, nil)
	descGeoBytes   = prometheus.NewDesc("minicloud_geo_shipped_bytes_total", "Encoded record bytes delivered to another site (chunk data shipped separately is not counted), object bytes PUT to a cloud target.", []string{"target"}, nil)
	descGeoEvents  = prometheus.NewDesc("minicloud_geo_events_total", "Cross-site repair events by kind: records repaired by anti-entropy, tombstones purged, records handed over by a drain.", []string{"kind"}, nil)
)

// Describe sends nothing: an unchecked collector, since the per-target histograms appear as
// targets do.
func (c *geoCollector) Describe(ch chan<- *prometheus.Desc) {}

func (c *geoCollector) Collect(ch chan<- prometheus.Metric) {
	s := (*Store)(c)
	g := &s.geo.ships
	g.mu.Lock()
	for t, ts := range g.targets {
		ch <- prometheus.MustNewConstMetric(descGeoRecords, prometheus.CounterValue, float64(ts.records.Load()), t)
		ch <- prometheus.MustNewConstMetric(descGeoBytes, prometheus.CounterValue, float64(ts.bytes.Load()), t)
		ts.lag.Collect(ch)
	}
	g.mu.Unlock()
	st := s.GeoStatus()
	var drained int64
	for _, n := range st.Drained {
		drained += n
	}
	for kind, v := range map[string]int64{"repaired": st.Repaired, "tombstone_purged": st.TombstonesPurged, "drained": drained} {
		ch <- prometheus.MustNewConstMetric(descGeoEvents, prometheus.CounterValue, float64(v), kind)
	}
}
