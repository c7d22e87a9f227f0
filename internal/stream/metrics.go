package stream

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes every stream's counters at scrape time, so streams come and go without
// registering and unregistering metrics.
type collector Manager

var (
	descIn        = prometheus.NewDesc("minicloud_stream_messages_in_total", "Messages appended to the stream's log on this node since it started.", []string{"stream"}, nil)
	descBytesIn   = prometheus.NewDesc("minicloud_stream_bytes_in_total", "Payload bytes appended to the stream's log on this node since it started.", []string{"stream"}, nil)
	descNext      = prometheus.NewDesc("minicloud_stream_next_offset", "Offset the next message of the stream gets on this node (last offset + 1).", []string{"stream"}, nil)
	descFirst     = prometheus.NewDesc("minicloud_stream_first_offset", "Oldest offset retention keeps on this node.", []string{"stream"}, nil)
	descLogBytes  = prometheus.NewDesc("minicloud_stream_log_bytes", "Bytes of the stream's log on this node.", []string{"stream"}, nil)
	descOut       = prometheus.NewDesc("minicloud_stream_messages_out_total", "Messages forwarded or archived (for target import: imported; for target peer:NODE: caught up from that node's log) since the node started.", []string{"stream", "target"}, nil)
	descBacklog   = prometheus.NewDesc("minicloud_stream_backlog_messages", "Log entries a forward target or archive has yet to look at (for target peer:NODE: entries of that node's log this node had not checked when it last answered).", []string{"stream", "target"}, nil)
	descLost      = prometheus.NewDesc("minicloud_stream_lost_total", "Messages retention dropped before they were forwarded or archived (for target peer:NODE: entries of that node's log its retention dropped before this node caught up).", []string{"stream", "target"}, nil)
	descDups      = prometheus.NewDesc("minicloud_stream_duplicates_dropped_total", "Forwarded messages dropped on arrival because they were already imported.", []string{"stream"}, nil)
	descFsync     = prometheus.NewDesc("minicloud_stream_fsync_seconds", "Duration of the stream log's group commit flushes (fdatasync) on this node.", []string{"stream"}, nil)
	descCommit    = prometheus.NewDesc("minicloud_stream_commit_wait_seconds", "Time from a group commit's first append until it is durable (with sync write: written): the longest a QoS 1 publish of the group waits for the log.", []string{"stream"}, nil)
	descShipError = prometheus.NewDesc("minicloud_stream_target_failing", "1 while the last attempt to ship to (or import or catch up from) the target failed.", []string{"stream", "target"}, nil)
)

func (m *Manager) registerMetrics(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	if err := r.Register((*collector)(m)); err != nil {
		return fmt.Errorf("register stream metrics: %w", err)
	}
	return nil
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIn, descBytesIn, descNext, descFirst, descLogBytes, descOut, descBacklog, descLost, descDups, descShipError, descFsync, descCommit} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range (*Manager)(c).openStreams() {
		ch <- s.log.fsyncs.metric(descFsync, s.name)
		ch <- s.log.commitWait.metric(descCommit, s.name)
	}
	for _, in := range (*Manager)(c).List() {
		n := in.Name
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(in.MessagesIn), n)
		ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(in.BytesIn), n)
		ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, float64(in.NextOffset), n)
		ch <- prometheus.MustNewConstMetric(descFirst, prometheus.GaugeValue, float64(in.FirstOffset), n)
		ch <- prometheus.MustNewConstMetric(descLogBytes, prometheus.GaugeValue, float64(in.LogBytes), n)
		targets := append(append(append([]TargetInfo(nil), in.Forwards...), in.Archives...), in.Peers...)
		if in.Import != nil {
			targets = append(targets, *in.Import)
			ch <- prometheus.MustNewConstMetric(descDups, prometheus.CounterValue, float64(in.Import.Duplicates), n)
		}
		for _, t := range targets {
			if strings.HasSuffix(t.Target, "(received here)") {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(t.Shipped), n, t.Target)
			ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(t.Backlog), n, t.Target)
			ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(t.Lost), n, t.Target)
			failing := 0.0
			if t.LastError != "" {
				failing = 1
			}
			ch <- prometheus.MustNewConstMetric(descShipError, prometheus.GaugeValue, failing, n, t.Target)
		}
	}
}
