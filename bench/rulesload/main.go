// Command rulesload measures minicloud's rules end to end: it defines a stream and one rule over
// the admin API, publishes readings over MQTT (paho) as fast as the node takes them or at a set
// rate, waits until the rule has processed all of them, and prints one JSON line: events sent,
// processed, dropped (the rule's visible drop counter) and lost (neither), events/s, the node's
// CPU per event and memory, and, when the rule's results are subscribed (-latency), the p50/p99
// latency from the MQTT publish to the rule's MQTT action. bench/rules.sh runs it.
//
// Workloads (-workload): filter (WHERE t > 50 over readings whose t is uniform in 0-100),
// window (avg(t) per id in a 10 s tumbling window), spike (anomaly_spikedip per id), and
// rules (-rules N idle filter rules: memory per rule).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	paho "github.com/eclipse/paho.mqtt.golang"
)

type config struct {
	admin, broker, ak, sk, workload, label string
	pid, keys, perMsg, pubs, qos, rules    int
	rate                                   float64
	duration, drain                        time.Duration
	latency                                bool
}

// Result is the JSON line rulesload prints.
type Result struct {
	Label         string  `json:"label"`
	Workload      string  `json:"workload"`
	EventsPerMsg  int     `json:"eventsPerMsg"`
	Keys          int     `json:"keys"`
	TargetRate    float64 `json:"targetMsgRate,omitempty"`
	Sent          int64   `json:"sent"`      // events
	Processed     int64   `json:"processed"` // the rule's "in"
	Dropped       int64   `json:"dropped"`   // the rule's visible drops
	Lost          int64   `json:"lost"`      // sent - processed - dropped
	Out           int64   `json:"out"`       // result rows
	PublishErrs   int64   `json:"publishErrors"`
	SentPerSec    float64 `json:"sentPerSec"`
	EventsPerSec  float64 `json:"eventsPerSec"` // processed / time until the last was processed
	CPUPercent    float64 `json:"cpuPercent"`   // the node's CPU over that time (200 = both cores)
	CPUusPerEvent float64 `json:"cpuMicrosPerEvent"`
	RSSMiB        float64 `json:"rssMiB"` // the node's RSS at the end
	HWMMiB        float64 `json:"peakRssMiB"`
	HeapMiB       float64 `json:"heapMiB"` // Go heap in use at the end
	Received      int64   `json:"resultsReceived,omitempty"`
	P50Ms         float64 `json:"p50ms,omitempty"`
	P99Ms         float64 `json:"p99ms,omitempty"`
	MaxMs         float64 `json:"maxms,omitempty"`
	Rules         int     `json:"rules,omitempty"`
	KiBPerRule    float64 `json:"heapKiBPerRule,omitempty"`
	RSSKiBPerRule float64 `json:"rssKiBPerRule,omitempty"`
}

func main() {
	var c config
	flag.StringVar(&c.admin, "admin", "http://127.0.0.1:9000", "node's S3/admin endpoint")
	flag.StringVar(&c.broker, "broker", "tcp://127.0.0.1:1883", "node's MQTT broker")
	flag.StringVar(&c.ak, "ak", os.Getenv("MINICLOUD_ROOT_ACCESS_KEY"), "access key")
	flag.StringVar(&c.sk, "sk", os.Getenv("MINICLOUD_ROOT_SECRET_KEY"), "secret key")
	flag.StringVar(&c.workload, "workload", "filter", "filter, window, spike or rules")
	flag.StringVar(&c.label, "label", "", "label for the result line")
	flag.IntVar(&c.pid, "pid", 0, "the node's process id (CPU and memory from /proc)")
	flag.IntVar(&c.keys, "keys", 1000, "distinct ids")
	flag.IntVar(&c.perMsg, "per-msg", 1, "events per MQTT message (a JSON array when > 1)")
	flag.IntVar(&c.pubs, "pubs", 1, "publishers")
	flag.IntVar(&c.qos, "qos", 1, "publish QoS")
	flag.IntVar(&c.rules, "rules", 200, "rules workload: how many idle rules")
	flag.Float64Var(&c.rate, "rate", 0, "messages per second over all publishers (0: as fast as possible)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "publishing time")
	flag.DurationVar(&c.drain, "drain", 60*time.Second, "longest wait for the rule to catch up")
	flag.BoolVar(&c.latency, "latency", false, "subscribe to the results and measure publish-to-action latency (filter)")
	flag.Parse()
	r, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulesload:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

var rules = map[string]string{
	"filter": "SELECT id, t, sent FROM benchin WHERE t > 50",
	"window": "SELECT id, avg(t) AS a, count(*) AS n FROM benchin GROUP BY id, TUMBLINGWINDOW(ss, 10)",
	"spike":  "SELECT id, anomaly_spikedip(t, 99, 120) OVER (PARTITION BY id) AS s FROM benchin",
}

func run(c config) (Result, error) {
	ctx := context.Background()
	a := &admin{c: c}
	res := Result{Label: c.label, Workload: c.workload, EventsPerMsg: c.perMsg, Keys: c.keys, TargetRate: c.rate}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	if _, err := a.do(ctx, "POST", "/_minicloud/admin/v1/sql", `{"sql": "CREATE STREAM benchin (id string, t float, sent bigint) WITH (DATASOURCE=\"bench/in/#\")"}`); err != nil && !strings.Contains(err.Error(), "exist") {
		return res, err
	}
	if c.workload == "rules" {
		return memPerRule(ctx, a, c, res)
	}
	sql, ok := rules[c.workload]
	if !ok {
		return res, fmt.Errorf("unknown workload %q", c.workload)
	}
	if c.latency {
		sql = "SELECT id, t, sent FROM benchin"
	}
	name := "bench_" + c.workload
	a.do(ctx, "DELETE", "/_minicloud/admin/v1/rules/"+name, "") //nolint:errcheck // may not exist
	outTopic := "bench/out/" + run
	def, _ := json.Marshal(map[string]any{"sql": sql, "actions": []any{map[string]any{"mqtt": map[string]any{"topic": outTopic, "sendSingle": true}}}})
	if _, err := a.do(ctx, "POST", "/_minicloud/admin/v1/rules?name="+name, string(def)); err != nil {
		return res, err
	}
	defer a.do(ctx, "DELETE", "/_minicloud/admin/v1/rules/"+name, "") //nolint:errcheck

	sub := &latencies{}
	if c.latency {
		sc := paho.NewClient(mqttOpts(c, "rulesload-sub-"+run))
		if t := sc.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return res, fmt.Errorf("subscriber connect: %v", t.Error())
		}
		defer sc.Disconnect(100)
		if t := sc.Subscribe(outTopic, 0, sub.handle); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return res, fmt.Errorf("subscribe: %v", t.Error())
		}
	}
	pubs := make([]paho.Client, c.pubs)
	for i := range pubs {
		pubs[i] = paho.NewClient(mqttOpts(c, fmt.Sprintf("rulesload-pub-%d-%s", i, run)))
		if t := pubs[i].Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return res, fmt.Errorf("publisher %d connect: %v", i, t.Error())
		}
		defer pubs[i].Disconnect(100)
	}
	cpu0, _ := cpuSeconds(c.pid)
	var sent, errs atomic.Int64
	start := time.Now()
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() { defer wg.Done(); publish(c, p, i, start, end, &sent, &errs) }()
	}
	wg.Wait()
	pubEnd := time.Now()
	res.Sent, res.PublishErrs = sent.Load(), errs.Load()
	res.SentPerSec = float64(res.Sent) / pubEnd.Sub(start).Seconds()

	// Wait until the rule has taken every event (processed or counted as dropped), or made no
	// progress for 5 s, or the drain time is up.
	var st ruleStats
	lastIn, lastChange, doneAt := int64(-1), time.Now(), time.Now()
	for deadline := pubEnd.Add(c.drain); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if st, err = a.stats(ctx, name); err != nil {
			return res, err
		}
		if st.In != lastIn {
			lastIn, lastChange, doneAt = st.In, time.Now(), time.Now()
		}
		if st.In+st.Dropped >= res.Sent || time.Since(lastChange) > 5*time.Second {
			break
		}
	}
	cpu1, _ := cpuSeconds(c.pid)
	elapsed := doneAt.Sub(start).Seconds()
	res.Processed, res.Dropped, res.Out = st.In, st.Dropped, st.Out
	res.Lost = res.Sent - res.Processed - res.Dropped
	res.EventsPerSec = float64(res.Processed) / elapsed
	res.CPUPercent = 100 * (cpu1 - cpu0) / elapsed
	if res.Processed > 0 {
		res.CPUusPerEvent = 1e6 * (cpu1 - cpu0) / float64(res.Processed)
	}
	res.RSSMiB, res.HWMMiB = procMem(c.pid)
	res.HeapMiB = a.heapMiB(ctx)
	if c.latency {
		time.Sleep(time.Second) // results still on their way
		res.Received, res.P50Ms, res.P99Ms, res.MaxMs = sub.summary()
	}
	return res, nil
}

// memPerRule creates idle filter rules and reports the heap and RSS they add, per rule.
func memPerRule(ctx context.Context, a *admin, c config, res Result) (Result, error) {
	res.Rules = c.rules
	heap0, rss0 := a.heapMiB(ctx), 0.0
	rss0, _ = procMem(c.pid)
	for i := 0; i < c.rules; i++ {
		def := fmt.Sprintf(`{"sql": "SELECT id, t FROM benchin WHERE t > %d", "actions": [{"mqtt": {"topic": "bench/idle/%d"}}]}`, i, i)
		if _, err := a.do(ctx, "POST", fmt.Sprintf("/_minicloud/admin/v1/rules?name=idle%d", i), def); err != nil {
			return res, err
		}
	}
	time.Sleep(2 * time.Second)
	heap1 := a.heapMiB(ctx)
	rss1, hwm := procMem(c.pid)
	for i := 0; i < c.rules; i++ {
		a.do(ctx, "DELETE", fmt.Sprintf("/_minicloud/admin/v1/rules/idle%d", i), "") //nolint:errcheck
	}
	res.KiBPerRule = (heap1 - heap0) * 1024 / float64(c.rules)
	res.RSSKiBPerRule = (rss1 - rss0) * 1024 / float64(c.rules)
	res.RSSMiB, res.HWMMiB, res.HeapMiB = rss1, hwm, heap1
	return res, nil
}

func mqttOpts(c config, id string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker(c.broker).SetClientID(id).SetUsername(c.ak).SetPassword(c.sk).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(60 * time.Second).SetMessageChannelDepth(100000)
}

// publish sends readings until end, keeping up to 64 publishes unacknowledged, paced when a
// rate is set. Each event carries its send time (unix ns) in "sent".
func publish(c config, p paho.Client, i int, start, end time.Time, sent, errs *atomic.Int64) {
	var interval time.Duration
	if c.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.pubs) / c.rate)
	}
	rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
	const window = 64
	ring := make([]paho.Token, window)
	next := start
	var buf bytes.Buffer
	for n := 0; ; n++ {
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
		if t := ring[n%window]; t != nil && (!t.WaitTimeout(60*time.Second) || t.Error() != nil) {
			errs.Add(1)
		}
		buf.Reset()
		if c.perMsg > 1 {
			buf.WriteByte('[')
		}
		ts := time.Now().UnixNano()
		for e := 0; e < c.perMsg; e++ {
			if e > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"id":"k%d","t":%.2f,"sent":%d}`, rng.IntN(c.keys), rng.Float64()*100, ts)
		}
		if c.perMsg > 1 {
			buf.WriteByte(']')
		}
		ring[n%window] = p.Publish(fmt.Sprintf("bench/in/%d", i), byte(c.qos), false, append([]byte(nil), buf.Bytes()...))
		sent.Add(int64(c.perMsg))
	}
	for _, t := range ring {
		if t != nil && (!t.WaitTimeout(60*time.Second) || t.Error() != nil) {
			errs.Add(1)
		}
	}
}

// latencies records how long after its publish each result arrived.
type latencies struct {
	mu  sync.Mutex
	lat []int64
}

func (l *latencies) handle(_ paho.Client, m paho.Message) {
	now := time.Now().UnixNano()
	var row struct {
		Sent int64 `json:"sent"`
	}
	if json.Unmarshal(m.Payload(), &row) != nil || row.Sent == 0 {
		return
	}
	l.mu.Lock()
	l.lat = append(l.lat, now-row.Sent)
	l.mu.Unlock()
}

func (l *latencies) summary() (n int64, p50, p99, mx float64) {
	l.mu.Lock()
	lat := append([]int64(nil), l.lat...)
	l.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0, 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) float64 { return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)]) / 1e6 }
	return int64(len(lat)), pct(0.5), pct(0.99), float64(lat[len(lat)-1]) / 1e6
}

// admin calls the node's admin API, signed with SigV4 as the CLI does.
type admin struct{ c config }

func (a *admin) do(ctx context.Context, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.c.admin+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: a.c.ak, SecretAccessKey: a.c.sk}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, out)
	}
	return out, nil
}

type ruleStats struct {
	In, Out, Dropped int64
}

func (a *admin) stats(ctx context.Context, name string) (ruleStats, error) {
	b, err := a.do(ctx, "GET", "/_minicloud/admin/v1/rules/"+name, "")
	if err != nil {
		return ruleStats{}, err
	}
	var info struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Stats  struct {
			In, Out, Dropped int64
		} `json:"stats"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return ruleStats{}, err
	}
	if info.Status != "running" {
		return ruleStats{}, fmt.Errorf("rule %s is %s: %s", name, info.Status, info.Error)
	}
	return ruleStats{info.Stats.In, info.Stats.Out, info.Stats.Dropped}, nil
}

// heapMiB reads go_memstats_heap_inuse_bytes from the node's metrics.
func (a *admin) heapMiB(ctx context.Context) float64 {
	b, err := a.do(ctx, "GET", "/_minicloud/metrics", "")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f / (1 << 20)
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time of a process (Linux, 100 ticks a second).
func cpuSeconds(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil
}

// procMem returns a process's RSS and peak RSS in MiB.
func procMem(pid int) (rss, hwm float64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v / 1024
		case "VmHWM:":
			hwm = v / 1024
		}
	}
	return rss, hwm
}
