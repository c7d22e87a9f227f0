package stream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/parquet-go/parquet-go"

	"github.com/minicloud/minicloud/internal/stream"
	"github.com/minicloud/minicloud/internal/testserver"
)

// proc is a real `minicloud serve` process with an MQTT listener.
type proc struct {
	*testserver.Node
	mqtt string
}

func startProc(t *testing.T, extra ...string) *proc {
	t.Helper()
	if testing.Short() {
		t.Skip("starts minicloud processes")
	}
	addr := testserver.FreeAddr(t)
	n := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: append([]string{"--mqtt", addr}, extra...)}
	n.Init(t)
	n.Restart()
	t.Cleanup(n.Kill)
	return &proc{n, addr}
}

// cli runs the minicloud command line against p.
func (p *proc) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), append(args, "--endpoint", p.Endpoint())...)
	cmd.Env = append(cmd.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("minicloud %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// messages reads a stream over the admin HTTP API (HTTP Basic with the root key).
func (p *proc) messages(t *testing.T, name string, q url.Values) []stream.Message {
	t.Helper()
	req, _ := http.NewRequest("GET", p.Endpoint()+"/_minicloud/admin/v1/streams/"+name+"/messages?"+q.Encode(), nil)
	req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("read %s: HTTP %d: %s", name, resp.StatusCode, body)
	}
	ms, err := stream.DecodeNDJSON(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (p *proc) all(t *testing.T, name string) []stream.Message {
	return p.messages(t, name, url.Values{"from": {"0"}, "limit": {"100000"}})
}

func (p *proc) client(t *testing.T, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID(id).
		SetUsername(testserver.AccessKey).SetPassword(testserver.SecretKey).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", payload, tok.Error())
	}
}

func TestProcessStreamLogsReadsAndSurvivesKill(t *testing.T) {
	p := startProc(t)
	out := p.cli(t, "stream", "create", "plant", "--topics", "plant/#,ingest/+", "--retain", "7d", "--max-size", "1GiB")
	if !strings.Contains(out, "stream plant created") {
		t.Fatalf("create: %s", out)
	}
	c := p.client(t, "pub")
	const n = 300
	var mid time.Time
	for i := 0; i < n; i++ {
		if i == n/2 {
			time.Sleep(20 * time.Millisecond)
			mid = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		publish(t, c, fmt.Sprintf("plant/line%d", i%3), fmt.Sprintf(`{"i":%d}`, i))
	}
	publish(t, c, "elsewhere/x", "not logged")
	ms := p.all(t, "plant")
	if len(ms) != n {
		t.Fatalf("logged %d messages, want %d", len(ms), n)
	}
	for i, m := range ms {
		if m.Offset != uint64(i) || m.Payload != fmt.Sprintf(`{"i":%d}`, i) || m.Topic != fmt.Sprintf("plant/line%d", i%3) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	byTime := p.messages(t, "plant", url.Values{"since": {mid.UTC().Format(time.RFC3339Nano)}, "limit": {"5"}})
	if len(byTime) != 5 || byTime[0].Offset != n/2 {
		t.Fatalf("since the middle: %+v", byTime)
	}
	tail := p.cli(t, "stream", "tail", "plant", "--from", "295")
	if lines := strings.Split(strings.TrimSpace(tail), "\n"); len(lines) != 5 || !strings.Contains(lines[4], `"offset":299`) {
		t.Fatalf("tail --from 295:\n%s", tail)
	}

	// HTTP ingest lands in the stream like an MQTT publish.
	req, _ := http.NewRequest("POST", p.Endpoint()+"/streams/ingest/dev1", strings.NewReader(`{"t":1}`))
	req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest: %v %v", err, resp)
	}
	resp.Body.Close()
	if ms := p.messages(t, "plant", url.Values{"from": {fmt.Sprint(n)}}); len(ms) != 1 || ms[0].Topic != "ingest/dev1" {
		t.Fatalf("ingested message: %+v", ms)
	}

	// kill -9 during steady QoS 1 publishing: every acknowledged message is in the log, once.
	acked := publishUntilKilled(t, p, "plant/kill", 700*time.Millisecond)
	p.Restart()
	ms = p.all(t, "plant")
	count := map[string]int{}
	for _, m := range ms {
		if m.Topic == "plant/kill" {
			count[m.Payload]++
		}
	}
	for _, a := range acked {
		if count[a] != 1 {
			t.Fatalf("acknowledged message %s is in the log %d times", a, count[a])
		}
	}
	for pl, k := range count {
		if k != 1 {
			t.Fatalf("message %s is in the log %d times", pl, k)
		}
	}
	t.Logf("%d messages acknowledged before the kill, %d logged", len(acked), len(count))
	if len(acked) < 50 {
		t.Fatalf("only %d messages acknowledged in 700ms: the test proves little", len(acked))
	}
	info := p.cli(t, "stream", "describe", "plant")
	var in stream.Info
	if err := json.Unmarshal([]byte(info), &in); err != nil || in.NextOffset != uint64(len(ms)) {
		t.Fatalf("describe after restart: %v\n%s", err, info)
	}
	mreq, _ := http.NewRequest("GET", p.Endpoint()+"/_minicloud/metrics", nil)
	mreq.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if want := fmt.Sprintf("minicloud_stream_next_offset{stream=%q} %d", "plant", len(ms)); !strings.Contains(string(metrics), want) {
		t.Fatalf("metrics lack %s", want)
	}
	if list := p.cli(t, "stream", "list"); !strings.Contains(list, "plant") {
		t.Fatalf("list:\n%s", list)
	}
	p.cli(t, "stream", "delete", "plant")
	if list := p.cli(t, "stream", "list"); strings.Contains(list, "plant") {
		t.Fatalf("list after delete:\n%s", list)
	}
}

// publishUntilKilled publishes QoS 1 messages from four clients until the process is killed
// after d; it returns the payloads the broker acknowledged.
func publishUntilKilled(t *testing.T, p *proc, topic string, d time.Duration) []string {
	t.Helper()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		c := p.client(t, fmt.Sprint("killpub", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				payload := fmt.Sprintf("w%d-%d", w, i)
				tok := c.Publish(topic, 1, false, payload)
				if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
					return
				}
				mu.Lock()
				acked = append(acked, payload)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(d)
	p.Kill()
	wg.Wait()
	return acked
}

func TestProcessStreamArchiveParquet(t *testing.T) {
	p := startProc(t)
	p.cli(t, "bucket", "create", "lake")
	p.cli(t, "stream", "create", "tele", "--topics", "tele/#")
	p.cli(t, "stream", "archive", "tele", "--bucket", "lake", "--format", "parquet", "--every", "1s")
	c := p.client(t, "pub")
	for i := 0; i < 100; i++ {
		publish(t, c, "tele/x", fmt.Sprint(i))
	}
	// The archiver writes a part of what it has every second: wait for all of them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := readArchive(t, p, "lake", "stream=tele/")
		if len(rows) == 100 {
			for i, r := range rows {
				if string(r.Payload) != fmt.Sprint(i) || r.Topic != "tele/x" || r.Offset != int64(i) {
					t.Fatalf("row %d: %+v", i, r)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows archived, want 100", len(rows))
		}
		time.Sleep(time.Second)
	}
}

// readArchive lists and reads every Parquet part under prefix through the S3 API, in key
// order (parts of one node are named by their first offset).
func readArchive(t *testing.T, p *proc, bucket, prefix string) []stream.ArchiveRow {
	t.Helper()
	ctx := t.Context()
	u, _ := url.Parse(p.Endpoint())
	s3, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(testserver.AccessKey, testserver.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []stream.ArchiveRow
	for o := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !strings.HasSuffix(o.Key, ".parquet") || !strings.Contains(o.Key, "/date=") || !strings.Contains(o.Key, "/hour=") {
			t.Fatalf("archive object %s is not a time-partitioned Parquet part", o.Key)
		}
		obj, err := s3.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		rs, err := parquet.Read[stream.ArchiveRow](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: not readable as Parquet: %v", o.Key, err)
		}
		rows = append(rows, rs...)
	}
	return rows
}
