package rulesrt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/rulesrt"
	"github.com/minicloud/minicloud/internal/stream"
)

// storeAdapter is the node's wiring (internal/node/rules.go) over a real single-node store.
type storeAdapter struct{ s *replicate.Store }

func (a storeAdapter) PutObject(ctx context.Context, bucket, key string, body []byte, ct string) error {
	_, err := a.s.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), object.PutOptions{Meta: object.Meta{ContentType: ct}})
	return err
}

func openStore(t *testing.T) *replicate.Store {
	t.Helper()
	dir := t.TempDir()
	db, err := metastore.Open(dir+"/meta", metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := object.Open(dir, object.Options{NodeID: "n1", DB: db})
	if err != nil {
		t.Fatal(err)
	}
	s := replicate.New(replicate.Options{Local: objs})
	s.Start()
	t.Cleanup(func() { s.Close(); objs.Close(); db.Close() })
	return s
}

func openStreams(t *testing.T) *stream.Manager {
	t.Helper()
	dir := t.TempDir()
	db, err := metastore.Open(dir+"/meta", metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := stream.DefaultOptions()
	o.Dir, o.NodeID, o.Site, o.DB = dir+"/streams", "n1", "s1", db
	m, err := stream.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); db.Close() })
	return m
}

// TestObjectAndStreamActions: results become batched objects in a bucket (by count and by time,
// one object per rendered key) and messages in a stream's log, with counters.
func TestObjectAndStreamActions(t *testing.T) {
	store := openStore(t)
	streams := openStreams(t)
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "results", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := streams.Create(stream.CreateRequest{Name: "alerts", Topics: []string{"alerts/#"}}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *rulesrt.Options) {
		o.NodeID, o.Objects, o.Streams = "n1", storeAdapter{store}, streams
	})
	e.sql(`CREATE STREAM s (dev string, v float) WITH (DATASOURCE="in/#")`)
	e.create("out", `{"sql": "SELECT dev, v FROM s WHERE v > 0", "actions": [
		{"object": {"bucket": "results", "key": "by-dev/{{.dev}}/", "batchSize": 3, "flushInterval": "300ms"}},
		{"stream": {"name": "alerts", "topic": "alerts/hot"}}]}`)
	for i, dev := range []string{"a", "a", "a", "a", "b"} {
		e.broker.Publish("in/x", []byte(`{"dev": "`+dev+`", "v": `+string(rune('1'+i))+`}`), 0, false)
	}
	e.broker.Publish("in/x", []byte(`{"dev": "c", "v": -1}`), 0, false) // filtered out

	list := func() map[string]string {
		res, err := store.ListObjects(ctx, "results", object.ListOptions{MaxKeys: 100})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, o := range res.Objects {
			_, r, err := store.GetObject(ctx, "results", o.Key, "", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			out[o.Key] = string(b)
		}
		return out
	}
	var objs map[string]string
	waitFor(t, 10*time.Second, "5 rows in objects", func() bool {
		objs = list()
		n := 0
		for _, v := range objs {
			n += strings.Count(v, "\n")
		}
		return n == 5
	})
	var aLines, bLines int
	for k, v := range objs {
		switch {
		case strings.HasPrefix(k, "by-dev/a/") && strings.HasSuffix(k, "-n1-00000000.ndjson"):
			aLines += strings.Count(v, "\n")
		case strings.HasPrefix(k, "by-dev/a/"):
			aLines += strings.Count(v, "\n")
		case strings.HasPrefix(k, "by-dev/b/"):
			bLines += strings.Count(v, "\n")
			if v != `{"dev":"b","v":5}`+"\n" {
				t.Errorf("object %s = %q", k, v)
			}
		default:
			t.Errorf("unexpected object %s", k)
		}
	}
	if aLines != 4 || bLines != 1 || len(objs) < 3 {
		t.Fatalf("objects %v: want 4 rows of a (in 2 batches of at most 3) and 1 of b", objs)
	}

	msgs, err := streams.Read("alerts", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 5 || msgs[0].Topic != "alerts/hot" {
		t.Fatalf("stream alerts holds %+v", msgs)
	}
	var first []map[string]any
	if err := json.Unmarshal([]byte(msgs[0].Payload), &first); err != nil || len(first) != 1 || first[0]["dev"] != "a" {
		t.Fatalf("first stream message %q: %v", msgs[0].Payload, err)
	}
	// The counters follow the PUT that wrote the last object.
	waitFor(t, 5*time.Second, "action counters", func() bool {
		info, _ := e.rt.Describe("out")
		o, s := info.Actions[0], info.Actions[1]
		return o.Sent == 5 && o.Pending == 0 && s.Sent == 5 && s.Target == "alerts"
	})
}

// TestObjectActionRetries: a bucket that does not exist yet fails the PUT (counted, with the
// error), and the rows are written once it exists: nothing is lost.
func TestObjectActionRetries(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	e := newEnv(t, func(o *rulesrt.Options) { o.NodeID, o.Objects = "n1", storeAdapter{store} })
	e.sql(`CREATE STREAM s (v float) WITH (DATASOURCE="in/#")`)
	e.create("late", `{"sql": "SELECT v FROM s", "actions": [{"object": {"bucket": "later", "format": "json", "batchSize": 2}}]}`)
	e.broker.Publish("in/x", []byte(`{"v": 1}`), 0, false)
	e.broker.Publish("in/x", []byte(`{"v": 2}`), 0, false)
	waitFor(t, 10*time.Second, "a failed PUT", func() bool {
		info, _ := e.rt.Describe("late")
		return info.Actions[0].Failed > 0 && strings.Contains(info.Actions[0].LastError, "later")
	})
	if err := store.CreateBucket(ctx, "later", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the batch written", func() bool {
		info, _ := e.rt.Describe("late")
		return info.Actions[0].Sent == 2 && info.Actions[0].Pending == 0
	})
	res, err := store.ListObjects(ctx, "later", object.ListOptions{MaxKeys: 10})
	if err != nil || len(res.Objects) != 1 || !strings.HasPrefix(res.Objects[0].Key, "late/") || !strings.HasSuffix(res.Objects[0].Key, ".json") {
		t.Fatalf("objects %+v %v", res.Objects, err)
	}
	_, r, _ := store.GetObject(ctx, "later", res.Objects[0].Key, "", 0, -1)
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != `[{"v":1},{"v":2}]` {
		t.Fatalf("object body %q", b)
	}
}
