package mqtt

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/system"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the broker's Prometheus series. Most read mochi's own atomic counters when scraped,
// so the message path pays nothing for them.
type metrics struct {
	published    prometheus.Counter
	forwarded    prometheus.Counter
	authFailures prometheus.Counter
	aclDenied    prometheus.Counter
	refused      prometheus.Counter
	throttled    prometheus.Counter
	stalled      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, info *system.Info) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_messages_published_total",
			Help: "Messages published on this node (clients, wills, HTTP ingest, rules, peers), after ACL checks.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_messages_forwarded_total",
			Help: "Messages handed to the other nodes of the site.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_auth_failures_total",
			Help: "Connections refused for bad or missing credentials.",
		}),
		aclDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_acl_denied_total",
			Help: "Subscriptions, publishes, wills and deliveries refused by topic grants.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_connections_refused_total",
			Help: "Connections closed at once because the broker had its maximum open.",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_backpressure_waits_total",
			Help: "Short waits of publishers for a congested subscriber (backpressure instead of loss).",
		}),
		stalled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minicloud_mqtt_stalled_subscribers_total",
			Help: "Times a publisher stopped waiting for a subscriber that drained nothing for a second.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	load := func(p *int64) func() float64 { return func() float64 { return float64(atomic.LoadInt64(p)) } }
	cs := []prometheus.Collector{m.published, m.forwarded, m.authFailures, m.aclDenied, m.refused, m.throttled, m.stalled,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minicloud_mqtt_connections", Help: "MQTT clients connected now."}, load(&info.ClientsConnected)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_messages_received_total", Help: "PUBLISH packets received from clients."}, load(&info.MessagesReceived)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_messages_sent_total", Help: "PUBLISH packets sent to clients."}, load(&info.MessagesSent)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_messages_dropped_total", Help: "Messages dropped because a client's send queue was full."}, load(&info.MessagesDropped)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_inflight_dropped_total", Help: "QoS 1/2 messages dropped because a client had too many in flight."}, load(&info.InflightDropped)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minicloud_mqtt_retained_messages", Help: "Retained messages held."}, load(&info.Retained)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minicloud_mqtt_subscriptions", Help: "Client subscriptions held."}, load(&info.Subscriptions)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_received_bytes_total", Help: "Bytes received from MQTT clients."}, load(&info.BytesReceived)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minicloud_mqtt_sent_bytes_total", Help: "Bytes sent to MQTT clients."}, load(&info.BytesSent)),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Stats are the broker's counters for a status page.
type Stats struct {
	Listeners        []string `json:"listeners,omitempty"` // addresses (tcp first, then tls, ws, wss)
	Connections      int64    `json:"connections"`
	MessagesReceived int64    `json:"messagesReceived"` // PUBLISH packets from clients
	MessagesSent     int64    `json:"messagesSent"`     // PUBLISH packets to clients
	Dropped          int64    `json:"dropped"`          // deliveries dropped (full queue or in-flight window)
	Retained         int64    `json:"retained"`
	Subscriptions    int64    `json:"subscriptions"`
}

// Stats returns the broker's counters now.
func (b *Broker) Stats() Stats {
	i := b.srv.Info
	ld := func(p *int64) int64 { return atomic.LoadInt64(p) }
	s := Stats{
		Connections: ld(&i.ClientsConnected), MessagesReceived: ld(&i.MessagesReceived), MessagesSent: ld(&i.MessagesSent),
		Dropped: ld(&i.MessagesDropped) + ld(&i.InflightDropped), Retained: ld(&i.Retained), Subscriptions: ld(&i.Subscriptions),
	}
	if a := b.Addr(); a != nil {
		s.Listeners = append(s.Listeners, a.String())
	}
	for _, a := range b.extra {
		s.Listeners = append(s.Listeners, a.String())
	}
	return s
}
