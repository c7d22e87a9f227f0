// Command mqttload measures an MQTT broker with paho clients: N publishers send fixed-size
// messages (each carrying its send time) to one topic tree at QoS 0 or 1, as fast as they can
// or at a set total rate, and one subscriber counts what it receives and how late. It prints one
// JSON line: sent, delivered, lost, rates and latency percentiles. The same program drives every
// broker that bench/mqtt.sh compares.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

type config struct {
	broker, user, pass, topic, label string
	qos                              int
	pubs, size, window               int
	rate                             float64
	duration, drain                  time.Duration
}

// Result is the JSON line mqttload prints.
type Result struct {
	Label        string  `json:"label"`
	QoS          int     `json:"qos"`
	Publishers   int     `json:"publishers"`
	Rate         float64 `json:"targetRate,omitempty"`
	Sent         int64   `json:"sent"`
	Delivered    int64   `json:"delivered"`
	Lost         int64   `json:"lost"`
	SentPerSec   float64 `json:"sentPerSec"`
	DelivPerSec  float64 `json:"deliveredPerSec"`
	P50Ms        float64 `json:"p50ms"`
	P99Ms        float64 `json:"p99ms"`
	MaxMs        float64 `json:"maxms"`
	PublishErrs  int64   `json:"publishErrors"`
	ElapsedSec   float64 `json:"elapsedSec"`
	DeliveredSec float64 `json:"deliveryWindowSec"`
}

func main() {
	var c config
	flag.StringVar(&c.broker, "broker", "tcp://127.0.0.1:1883", "broker URL")
	flag.StringVar(&c.user, "user", "", "username")
	flag.StringVar(&c.pass, "pass", "", "password")
	flag.StringVar(&c.topic, "topic", "bench", "topic root; publisher i of run R sends to ROOT/R/i")
	flag.StringVar(&c.label, "label", "", "label for the result line")
	flag.IntVar(&c.qos, "qos", 0, "QoS of publishes and of the subscription (0 or 1)")
	flag.IntVar(&c.pubs, "pubs", 1, "publishers")
	flag.IntVar(&c.size, "size", 100, "payload bytes (at least 8)")
	flag.IntVar(&c.window, "window", 64, "publishes a publisher may have unacknowledged")
	flag.Float64Var(&c.rate, "rate", 0, "total messages per second over all publishers (0: as fast as possible)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "publishing time")
	flag.DurationVar(&c.drain, "drain", 30*time.Second, "longest wait for messages still under way once publishing ends")
	tsv := flag.Bool("tsv", false, "print a tab-separated line (label qos pubs sent delivered lost sent/s delivered/s p50 p99 max ms, publish errors) instead of JSON")
	flag.Parse()
	if c.size < 8 {
		c.size = 8
	}
	r, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqttload:", err)
		os.Exit(1)
	}
	if *tsv {
		fmt.Printf("%s\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\n", r.Label, r.QoS, r.Publishers,
			r.Sent, r.Delivered, r.Lost, r.SentPerSec, r.DelivPerSec, r.P50Ms, r.P99Ms, r.MaxMs, r.PublishErrs)
		return
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func opts(c config, id string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker(c.broker).SetClientID(id).SetUsername(c.user).SetPassword(c.pass).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(30 * time.Second).SetMessageChannelDepth(100000)
}

// subscriber counts deliveries and records latencies.
type subscriber struct {
	count atomic.Int64
	mu    sync.Mutex
	lat   []int64 // nanoseconds
	last  atomic.Int64
}

func (s *subscriber) handle(_ paho.Client, m paho.Message) {
	now := time.Now().UnixNano()
	p := m.Payload()
	if len(p) < 8 {
		return
	}
	sent := int64(binary.BigEndian.Uint64(p))
	s.mu.Lock()
	s.lat = append(s.lat, now-sent)
	s.mu.Unlock()
	s.count.Add(1)
	s.last.Store(now)
}

func run(c config) (Result, error) {
	// A topic tree of this run's own: stragglers of an earlier run must not count here.
	c.topic = fmt.Sprintf("%s/%x", c.topic, time.Now().UnixNano())
	sub := &subscriber{lat: make([]int64, 0, 1<<20)}
	sc := paho.NewClient(opts(c, fmt.Sprintf("mqttload-sub-%d", time.Now().UnixNano())))
	if t := sc.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return Result{}, fmt.Errorf("subscriber connect: %v", t.Error())
	}
	defer sc.Disconnect(100)
	if t := sc.Subscribe(c.topic+"/#", byte(c.qos), sub.handle); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return Result{}, fmt.Errorf("subscribe: %v", t.Error())
	}
	pubs := make([]paho.Client, c.pubs)
	for i := range pubs {
		pubs[i] = paho.NewClient(opts(c, fmt.Sprintf("mqttload-pub-%d-%d", i, time.Now().UnixNano())))
		if t := pubs[i].Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return Result{}, fmt.Errorf("publisher %d connect: %v", i, t.Error())
		}
		defer pubs[i].Disconnect(100)
	}

	var sent, errs atomic.Int64
	start := time.Now()
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publish(c, p, fmt.Sprintf("%s/%d", c.topic, i), start, end, &sent, &errs)
		}()
	}
	wg.Wait()
	pubEnd := time.Now()
	// Wait for messages still under way (in the broker's queues or the sockets): until all
	// arrived, or nothing arrived for 3 s, or the drain time is up. What is missing then is lost.
	deadline := pubEnd.Add(c.drain)
	lastCount, lastChange := sub.count.Load(), time.Now()
	for time.Now().Before(deadline) && sub.count.Load() < sent.Load() {
		time.Sleep(50 * time.Millisecond)
		if n := sub.count.Load(); n != lastCount {
			lastCount, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 3*time.Second {
			break
		}
	}
	r := Result{Label: c.label, QoS: c.qos, Publishers: c.pubs, Rate: c.rate, Sent: sent.Load(),
		Delivered: sub.count.Load(), PublishErrs: errs.Load(), ElapsedSec: pubEnd.Sub(start).Seconds()}
	r.Lost = r.Sent - r.Delivered
	r.SentPerSec = float64(r.Sent) / r.ElapsedSec
	if last := sub.last.Load(); last > 0 {
		r.DeliveredSec = time.Unix(0, last).Sub(start).Seconds()
		r.DelivPerSec = float64(r.Delivered) / max(r.DeliveredSec, r.ElapsedSec)
	}
	sub.mu.Lock()
	lat := sub.lat
	sub.mu.Unlock()
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(q float64) float64 { return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)]) / 1e6 }
		r.P50Ms, r.P99Ms, r.MaxMs = pct(0.50), pct(0.99), float64(lat[len(lat)-1])/1e6
	}
	return r, nil
}

// publish sends until end, keeping at most c.window publishes unacknowledged, paced when a
// rate is set.
func publish(c config, p paho.Client, topic string, start, end time.Time, sent, errs *atomic.Int64) {
	var interval time.Duration
	if c.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.pubs) / c.rate)
	}
	window := make([]paho.Token, c.window) // a ring: slot n%window holds publish n
	payload := make([]byte, c.size)
	next := start
	n := 0
	for ; ; n++ {
		now := time.Now()
		if now.After(end) {
			break
		}
		if interval > 0 {
			if d := next.Sub(now); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
		}
		slot := n % c.window
		if t := window[slot]; t != nil && (!t.WaitTimeout(30*time.Second) || t.Error() != nil) {
			errs.Add(1)
		}
		msg := make([]byte, c.size) // paho keeps the slice until written
		copy(msg, payload)
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		window[slot] = p.Publish(topic, byte(c.qos), false, msg)
		sent.Add(1)
	}
	for _, t := range window {
		if t != nil && (!t.WaitTimeout(30*time.Second) || t.Error() != nil) {
			errs.Add(1)
		}
	}
}
