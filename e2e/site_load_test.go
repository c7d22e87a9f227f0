package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// A bounded mixed PUT/GET/LIST/DELETE load from several aws-sdk-go-v2 clients, each bound to
// one node, recorded into a history for the checker.

// writeSeq numbers every write of the test binary: a value's id is in its bytes, so a reader
// can tell which write it got, and its bytes can be regenerated to compare.
var writeSeq atomic.Int64

// payload is the value of write id of key: "key|id|" then filler derived from both.
func payload(key string, id int64, size int) []byte {
	head := fmt.Sprintf("%s|%d|", key, id)
	if size < len(head) {
		size = len(head)
	}
	return append([]byte(head), content(head, size-len(head))...)
}

// errForeign marks a read that returned bytes no write produced.
var errForeign = errors.New("bytes no write produced")

// payloadID tells which write produced b, or an errForeign error if b is not exactly such a
// value.
func payloadID(key string, b []byte) (int64, error) {
	parts := bytes.SplitN(b, []byte("|"), 3)
	if len(parts) < 3 || string(parts[0]) != key {
		return 0, fmt.Errorf("%w: %d bytes for %s", errForeign, len(b), key)
	}
	id, err := strconv.ParseInt(string(parts[1]), 10, 64)
	if err != nil || !bytes.Equal(b, payload(key, id, len(b))) {
		return 0, fmt.Errorf("%w: %d bytes of %s that are not write #%s's value", errForeign, len(b), key, parts[1])
	}
	return id, nil
}

type loadOpts struct {
	bucket    string
	prefix    string
	keys      int
	nodes     []*siteNode // one client per entry, talking to that node only
	maxOps    int         // per client
	seed      int64
	smallOnly bool // only inline objects: chunk stores then change only by data that moves
}

// loadErr is one failed client operation.
type loadErr struct {
	node string
	at   time.Duration
	what string
}

type load struct {
	o     loadOpts
	hist  *history
	stop  context.CancelFunc
	wg    sync.WaitGroup
	etags sync.Map // ETag -> write id, so that LIST entries can be mapped to writes

	mu   sync.Mutex
	errs []loadErr
	ops  map[string]int // per node
}

func (o loadOpts) key(i int) string { return fmt.Sprintf("%s%03d", o.prefix, i) }

func startLoad(ctx context.Context, t *testing.T, o loadOpts) *load {
	t.Logf("load on %s/%s*: %d clients, seed %d", o.bucket, o.prefix, len(o.nodes), o.seed)
	l := &load{o: o, hist: &history{}, ops: map[string]int{}}
	ctx, l.stop = context.WithCancel(ctx)
	for i, n := range o.nodes {
		l.wg.Add(1)
		go l.client(ctx, n, rand.New(rand.NewSource(o.seed+int64(i))))
	}
	return l
}

// Stop ends the load and waits for every client's last operation.
func (l *load) Stop() {
	l.stop()
	l.wg.Wait()
}

func (l *load) size(rng *rand.Rand) int {
	switch r := rng.Intn(100); {
	case r < 85 || l.o.smallOnly:
		return 64 + rng.Intn(4096)
	case r < 98:
		return 70<<10 + rng.Intn(130<<10) // above the inline limit: one chunk
	default:
		return 1<<20 + rng.Intn(300<<10) // two chunks
	}
}

func (l *load) client(ctx context.Context, n *siteNode, rng *rand.Rand) {
	defer l.wg.Done()
	c := sdkClient(n.Endpoint())
	for i := 0; i < l.o.maxOps && ctx.Err() == nil; i++ {
		key := l.o.key(rng.Intn(l.o.keys))
		var err error
		switch p := rng.Intn(100); {
		case p < 35:
			err = l.put(ctx, c, n, key, l.size(rng))
		case p < 75:
			err = l.get(ctx, c, n, key)
		case p < 85:
			err = l.del(ctx, c, n, key)
		default:
			err = l.list(ctx, c, n, 5+rng.Intn(20))
		}
		if ctx.Err() != nil {
			return // the load was stopped mid-operation: not the site's failure
		}
		l.mu.Lock()
		l.ops[n.ID]++
		if err != nil {
			l.errs = append(l.errs, loadErr{n.ID, since(), err.Error()})
		}
		l.mu.Unlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond) // don't spin on a node that is down
		}
	}
}

func (l *load) put(ctx context.Context, c *s3.Client, n *siteNode, key string, size int) error {
	id := writeSeq.Add(1)
	data := payload(key, id, size)
	sum := md5.Sum(data)
	l.etags.Store(hex.EncodeToString(sum[:]), id)
	o := op{kind: opPut, key: key, id: id, via: n.ID + " PUT", start: since()}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.o.bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	o.end, o.acked = since(), err == nil
	l.hist.add(o)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", key, err)
	}
	return nil
}

func (l *load) del(ctx context.Context, c *s3.Client, n *siteNode, key string) error {
	o := op{kind: opDelete, key: key, id: writeSeq.Add(1), via: n.ID + " DELETE", start: since()}
	_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.o.bucket), Key: aws.String(key)})
	o.end, o.acked = since(), err == nil
	l.hist.add(o)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", key, err)
	}
	return nil
}

// read GETs key and returns the id of the write it got (0: absent).
func read(ctx context.Context, c *s3.Client, bucket, key string) (int64, []byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return 0, nil, err
	}
	id, err := payloadID(key, b)
	return id, b, err
}

func (l *load) get(ctx context.Context, c *s3.Client, n *siteNode, key string) error {
	o := op{kind: opRead, key: key, via: n.ID + " GET", start: since()}
	id, _, err := read(ctx, c, l.o.bucket, key)
	o.end = since()
	if errors.Is(err, errForeign) {
		l.hist.corrupt("%v: %v", o, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	o.id = id
	l.hist.add(o)
	return nil
}

// list pages through the load's keys; every page is a read of every key in the range it
// covers: present with the listed ETag's write, or absent.
func (l *load) list(ctx context.Context, c *s3.Client, n *siteNode, pageSize int) error {
	var token *string
	lo := "" // keys after lo are covered by the next page
	for page := 1; ; page++ {
		start := since()
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(l.o.bucket), Prefix: aws.String(l.o.prefix),
			MaxKeys: aws.Int32(int32(pageSize)), ContinuationToken: token,
		})
		end := since()
		if err != nil {
			return fmt.Errorf("LIST page %d: %w", page, err)
		}
		listed := map[string]string{}
		hi := "\xff"
		for _, obj := range out.Contents {
			listed[aws.ToString(obj.Key)] = strings.Trim(aws.ToString(obj.ETag), `"`)
			hi = aws.ToString(obj.Key)
		}
		if !aws.ToBool(out.IsTruncated) {
			hi = "\xff"
		}
		for i := 0; i < l.o.keys; i++ {
			key := l.o.key(i)
			if key <= lo || key > hi {
				continue
			}
			o := op{kind: opRead, key: key, via: fmt.Sprintf("%s LIST page %d", n.ID, page), start: start, end: end}
			if etag, ok := listed[key]; ok {
				id, known := l.etags.Load(etag)
				if !known {
					l.hist.corrupt("%v: listed with ETag %s that no PUT produced", o, etag)
					continue
				}
				o.id = id.(int64)
			}
			l.hist.add(o)
		}
		for k := range listed {
			if !strings.HasPrefix(k, l.o.prefix) || k <= lo {
				l.hist.corrupt("%s LIST page %d: key %q outside the page's range (after %q)", n.ID, page, k, lo)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		lo, token = hi, out.NextContinuationToken
	}
}

// errorsOn returns the failures of clients of nodes for which bad(node, time) holds.
func (l *load) errorsWhere(bad func(node string, at time.Duration) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.errs {
		if bad(e.node, e.at) {
			out = append(out, fmt.Sprintf("%s at %.3fs: %s", e.node, e.at.Seconds(), e.what))
		}
	}
	return out
}

func (l *load) totalOps() (ops, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.ops {
		ops += n
	}
	return ops, len(l.errs)
}

// finalReads reads every key of the load through every node once the load is over, records the
// reads in the history (so the checker finds any lost write) and checks that every node returns
// the same bytes. It returns each key's final value (nil: absent).
func (l *load) finalReads(ctx context.Context, t *testing.T, nodes []*siteNode) map[string][]byte {
	t.Helper()
	final := map[string][]byte{}
	for i := 0; i < l.o.keys; i++ {
		key := l.o.key(i)
		var first []byte
		for j, n := range nodes {
			o := op{kind: opRead, key: key, via: n.ID + " final GET", start: since()}
			id, b, err := read(ctx, sdkClient(n.Endpoint()), l.o.bucket, key)
			o.end, o.id = since(), id
			if err != nil {
				t.Errorf("final read of %s via %s: %v", key, n.ID, err)
				continue
			}
			l.hist.add(o)
			if j == 0 {
				first, final[key] = b, b
			} else if !bytes.Equal(b, first) {
				t.Errorf("%s reads differently via %s (%d bytes) and %s (%d bytes)", key, nodes[0].ID, len(first), n.ID, len(b))
			}
		}
	}
	return final
}

// checkListing lists the load's keys through node n in one request and compares with final.
func (l *load) checkListing(ctx context.Context, t *testing.T, n *siteNode, final map[string][]byte) {
	t.Helper()
	out, err := sdkClient(n.Endpoint()).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(l.o.bucket), Prefix: aws.String(l.o.prefix)})
	if err != nil {
		t.Errorf("list via %s: %v", n.ID, err)
		return
	}
	got := map[string]string{}
	for _, o := range out.Contents {
		got[aws.ToString(o.Key)] = strings.Trim(aws.ToString(o.ETag), `"`)
	}
	for key, b := range final {
		sum := md5.Sum(b)
		if b != nil && got[key] != hex.EncodeToString(sum[:]) {
			t.Errorf("list via %s: %s has ETag %q, want %x", n.ID, key, got[key], sum)
		}
		if b == nil && got[key] != "" {
			t.Errorf("list via %s shows deleted %s", n.ID, key)
		}
	}
}
