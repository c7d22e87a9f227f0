package s3api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the S3 API's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec   // by operation and HTTP status
	duration *prometheus.HistogramVec // by operation
	bytesIn  *prometheus.CounterVec   // request body bytes, by operation
	bytesOut *prometheus.CounterVec   // response body bytes, by operation
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "minicloud", Subsystem: "s3", Name: "requests_total",
			Help: "S3 API requests by operation and HTTP status code.",
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "minicloud", Subsystem: "s3", Name: "request_duration_seconds",
			Help: "S3 API request latency, from the first byte read to the last byte written.",
			// From 250µs (a cached small GET) to about 1 min (a large PUT).
			Buckets: prometheus.ExponentialBuckets(0.00025, 2.5, 13),
		}, []string{"op"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "minicloud", Subsystem: "s3", Name: "received_bytes_total",
			Help: "Request payload bytes read by the S3 API, after aws-chunked decoding.",
		}, []string{"op"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "minicloud", Subsystem: "s3", Name: "sent_bytes_total",
			Help: "Response body bytes sent by the S3 API.",
		}, []string{"op"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.bytesIn = register(reg, m.bytesIn)
		m.bytesOut = register(reg, m.bytesOut)
	}
	return m
}

// register registers c, or returns the collector already registered under its name, so that
// several handlers (tests, a restarted listener) can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic("s3api: register metrics: " + err.Error()) // a name clash with another subsystem
	}
	return c
}

// statusLabels avoids formatting the status code of every request.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

// observe records a finished request in metrics and, for failures, in the log.
func (h *handler) observe(rq *request, start time.Time, in int64) {
	d := time.Since(start)
	status := rq.w.statusCode()
	code := strconv.Itoa(status)
	if status >= 0 && status < len(statusLabels) {
		code = statusLabels[status]
	}
	m := h.metrics
	m.requests.WithLabelValues(rq.name, code).Inc()
	m.duration.WithLabelValues(rq.name).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(rq.name).Add(float64(in))
	}
	if rq.w.written > 0 {
		m.bytesOut.WithLabelValues(rq.name).Add(float64(rq.w.written))
	}

	level := slog.LevelDebug
	switch {
	case status >= 500 && status != 501:
		// NotImplemented is a client asking for what minicloud refuses to do, not a fault.
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !h.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", rq.name),
		slog.String("bucket", rq.bucket),
		slog.String("key", logKey(rq.key)),
		slog.Int("status", status),
		slog.String("request_id", rq.id),
		slog.Duration("duration", d),
	}
	if rq.errCode != "" {
		attrs = append(attrs, slog.String("code", rq.errCode))
	}
	if rq.access != "" {
		attrs = append(attrs, slog.String("access_key", rq.access))
	}
	msg := "s3 request"
	if status >= 400 {
		msg = "s3 request failed"
		if rq.err != nil {
			attrs = append(attrs, slog.String("err", rq.err.Error()))
		}
	}
	h.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// logKey shortens a key for the log: keys may be 1 KiB (or, refused, longer).
func logKey(k string) string {
	const max = 200
	if len(k) <= max {
		return k
	}
	return k[:max] + "..."
}
