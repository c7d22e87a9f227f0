package replicate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes replication state to Prometheus: the backlog and age of the oldest waiting
// change for every target (a replica that was down, another site, an upstream cloud), and the
// counters of shipping, hints, read repair and anti-entropy.
func (s *Store) Collector() prometheus.Collector { return (*collector)(s) }

type collector Store

var (
	descBacklog = prometheus.NewDesc("minicloud_replication_backlog", "Changes waiting to be shipped to a target (node:ID, site:NAME or cloud:BUCKET:ID).", []string{"target"}, nil)
	descLag     = prometheus.NewDesc("minicloud_replication_lag_seconds", "Age of the oldest change waiting for a target: how far behind it is.", []string{"target"}, nil)
	descCounts  = prometheus.NewDesc("minicloud_replication_events_total", "Replication events by kind.", []string{"kind"}, nil)
	descLeased  = prometheus.NewDesc("minicloud_lease_partitions_readable", "Partitions this node reads from its own replica alone, holding a read lease from every other replica (internal/replicate/lease.go).", nil, nil)
	descGranted = prometheus.NewDesc("minicloud_lease_holders_granted", "Nodes holding an unexpired read lease granted by this node.", nil, nil)
	descRefill  = prometheus.NewDesc("minicloud_bootstrap_partitions_unrefilled", "While this node is bootstrapping (refilling after starting empty), the partitions it holds that are not yet in sync with every other replica; 0 otherwise.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBacklog
	ch <- descLag
	ch <- descCounts
	ch <- descRefill
	ch <- descLeased
	ch <- descGranted
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := (*Store)(c)
	if stats, err := s.local.HintStats(); err == nil {
		now := time.Now()
		for target, st := range stats {
			label := target
			if !hasPrefix(target, sitePrefix) && !hasPrefix(target, cloudPrefix) {
				label = "node:" + target
			}
			ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(st.Count), label)
			if !st.Oldest.IsZero() {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, now.Sub(st.Oldest).Seconds(), label)
			}
		}
	}
	for kind, v := range map[string]int64{
		"hint_stored": s.Stats.HintsStored.Load(), "hint_delivered": s.Stats.HintsDelivered.Load(),
		"read_repair": s.Stats.ReadRepairs.Load(), "antientropy_round": s.Stats.AERounds.Load(),
		"antientropy_pushed": s.Stats.AEPushed.Load(), "outboxed": s.Stats.Outboxed.Load(), "shipped": s.Stats.Shipped.Load(),
		"antientropy_pulled": s.ae.pulled.Load(),
		"lease_read":         s.Stats.LeaseReads.Load(), "lease_write_wait": s.Stats.LeaseWaits.Load(),
		"lease_record_fetched": s.Stats.LeaseFetched.Load(), "lease_lapse": s.Stats.LeaseLapses.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descCounts, prometheus.CounterValue, float64(v), kind)
	}
	refilled, held := s.BootstrapProgress()
	ch <- prometheus.MustNewConstMetric(descRefill, prometheus.GaugeValue, float64(held-refilled))
	leased, granted := s.LeaseState()
	ch <- prometheus.MustNewConstMetric(descLeased, prometheus.GaugeValue, float64(leased))
	ch <- prometheus.MustNewConstMetric(descGranted, prometheus.GaugeValue, float64(granted))
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
