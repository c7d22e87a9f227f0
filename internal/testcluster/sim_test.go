package testcluster_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/s3err"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// The randomized simulation. Each seed draws a site (3 or 5 nodes, RF=3, W=2, R=2, gossip that
// does or does not notice partitions), then a schedule of a few hundred S3 operations (PUT,
// GET, DELETE, LIST with paging, COPY; two buckets, one versioned; small inline and chunked
// bodies) through random live coordinators, interleaved with faults (crash and restart, a lost
// disk, partitions that leave a majority connected, message loss) and hint or anti-entropy rounds,
// some running alongside the operations. Every 100 operations and at the end the site heals and
// must converge. Network delays, lost messages and timeouts run on synctest's virtual clock.
//
//	go test ./internal/testcluster                       # 20 fixed seeds and 6 metamorphic ones
//	go test ./internal/testcluster -long                 # 200 fresh seeds of 600 operations
//	go test ./internal/testcluster -run '^TestSim$' -seed N -simtrace -v   # replay one, logged
//
// A seed fixes the schedule: operations, faults and coordinators, and the network's random
// source. Goroutines runnable at the same virtual instant still interleave as the Go scheduler
// picks (and so draw message fates in that order), so a replay follows the same schedule but is
// not always the same run bit for bit (the failures found so far replayed, but one).

var (
	flagSeed  = flag.Uint64("seed", 0, "simulation: run only this seed (replays a failure)")
	flagLong  = flag.Bool("long", false, "simulation: run many more seeds, with more operations each")
	flagSeeds = flag.Int("seeds", 0, "simulation: number of seeds (default 20, 200 with -long)")
	flagOps   = flag.Int("ops", 0, "simulation: operations per run (default 250, 600 with -long)")
	flagTrace = flag.Bool("simtrace", false, "simulation: log every operation and fault")
	flagGap   = flag.Duration("gap", time.Millisecond, "simulation: least time between operations (below 1ms, see sim.run)")
	flagSkew  = flag.Duration("skew", 0, "simulation: spread of the nodes' clocks (see sim.run)")
	// With -nolease-gate, TestSimLeases runs a broken variant (coordinators do not wait for lease
	// holders) and is expected to fail: it shows the checker catches the stale reads it allows.
	flagNoGate = flag.Bool("nolease-gate", false, "simulation: coordinators ignore read leases (broken on purpose: TestSimLeases must fail)")
)

// seeds returns the seeds to run: fixed ones normally (a failure in CI replays anywhere), fresh
// ones with -long (printed, so a failure replays with -seed).
func seeds(t *testing.T) []uint64 {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}
	}
	n, base := 20, uint64(1)
	if *flagLong {
		n, base = 200, uint64(time.Now().UnixNano()%1_000_000_000)*1000
		t.Logf("seeds %d..%d", base, base+uint64(n)-1)
	}
	if *flagSeeds > 0 {
		n = *flagSeeds
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func opsPerRun() int {
	switch {
	case *flagOps > 0:
		return *flagOps
	case *flagLong:
		return 600
	}
	return 250
}

// TestSim runs random schedules of S3 operations through random coordinators of a simulated
// site, interleaved with crashes, restarts, a lost disk, partitions, message loss and background
// repair, and checks every answer against the history model, availability against what the
// faults allow, and convergence of every replica after healing.
func TestSim(t *testing.T) {
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newSim(t, seed, simOptions{faults: true})
				s.run(opsPerRun())
				s.report()
			})
		})
	}
}

// TestSimLeases is TestSim with read leases on (internal/replicate/lease.go): nodes read keys
// from their own replica alone while they hold leases, and the same history checks must pass
// under the same faults.
func TestSimLeases(t *testing.T) {
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newSim(t, seed, simOptions{faults: true, leases: true})
				s.run(opsPerRun())
				s.report()
			})
		})
	}
}

// bubble runs fn in a synctest bubble: network delays and timeouts take no wall-clock time, and
// sleeping lets every goroutine in flight run to completion first. Bubbles run one at a time, and
// the garbage collector empties sync.Pools after each: Pebble pools sstable write tasks that hold
// channels, and a channel made in one bubble must never be used outside it (fatal error).
func bubble(t *testing.T, fn func(t *testing.T)) {
	synctest.Test(t, fn)
	runtime.GC()
	runtime.GC() // the second collection drops the pools' victim caches too
}

// dataDir returns a directory for the nodes' data: on tmpfs when there is one (fsync is then
// free; see testcluster.Options.Dir), else t.TempDir().
func dataDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "minicloud-sim-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

type simOptions struct {
	leases bool // read leases on (internal/replicate/lease.go)
	faults bool // inject faults
	retry  bool // retry a failed operation after healing until it succeeds (metamorphic test)
	nodes  int  // 0: drawn from the seed
}

var buckets = []string{"plain", "vers"} // unversioned and versioning-enabled

const keysPerBucket = 8

// keyName names key i of a bucket; the last two share the prefix "d/", which a listing with
// delimiter "/" shows as one common prefix.
func keyName(i int) string {
	if i >= keysPerBucket-2 {
		return fmt.Sprintf("d/k%d", i)
	}
	return fmt.Sprintf("k%d", i)
}

// sim is one run: the cluster, its schedule and the model it is checked against.
type sim struct {
	t       *testing.T
	seed    uint64
	o       simOptions
	opRng   *rand.Rand // the operations (the same sequence whatever the faults)
	faultRg *rand.Rand // the faults and coordinators
	c       *testcluster.Cluster
	ctx     context.Context

	n, rf, w, r int
	regs        map[string]*register
	trail       []string // recent operations, printed on failure
	i           int      // current operation
	dropping    bool
	wiped       bool // a disk was lost since the last convergence

	counts map[string]int
	// acknowledged versions of the versioned bucket: each must stay readable by its id
	versions []keptVersion
	checked  int // versions checked at the last convergence

	ref *reference     // metamorphic test: the same operations on a single node
	bg  sync.WaitGroup // background rounds running alongside the operations
}

func newSim(t *testing.T, seed uint64, o simOptions) *sim {
	s := &sim{
		t: t, seed: seed, o: o, ctx: context.Background(),
		opRng:   rand.New(rand.NewPCG(seed, 1)),
		faultRg: rand.New(rand.NewPCG(seed, 2)),
		regs:    map[string]*register{},
		counts:  map[string]int{},
		rf:      3, w: 2, r: 2,
	}
	t.Cleanup(func() {
		if t.Failed() {
			gap := ""
			if *flagGap != time.Millisecond {
				gap = " -gap " + flagGap.String()
			}
			if *flagSkew != 0 {
				gap += " -skew " + flagSkew.String()
			}
			t.Logf("seed %d: replay with: go test ./internal/testcluster -run '^%s$' -seed %d -ops %d%s -simtrace -v",
				seed, strings.Split(t.Name(), "/")[0], seed, opsPerRun(), gap)
		}
	})
	s.n = o.nodes
	if s.n == 0 {
		s.n = 3
		if s.faultRg.IntN(3) == 0 {
			s.n = 5 // sloppy quorum and partitions placed on some nodes only
		}
	}
	detection := []float64{0, 0.5, 1}[s.faultRg.IntN(3)] // how soon "gossip" sees a cut
	net := testcluster.NetConfig{
		MinDelay: 100 * time.Microsecond, MaxDelay: 2 * time.Millisecond,
		SlowProb: 0.03, CutTimeout: 2 * time.Second,
	}
	s.c = testcluster.New(t, testcluster.Options{
		Nodes: s.n, RF: s.rf, W: s.w, R: s.r,
		Rand: rand.New(rand.NewPCG(seed, 3)), Net: net, Dir: dataDir(t),
		Detection: detection, ClockSkew: *flagSkew, ReadLeases: o.leases, NoLeaseGate: o.leases && *flagNoGate,
	})
	s.c.CreateBucket("plain", "")
	s.c.CreateBucket("vers", object.VersioningEnabled)
	s.logf("start: %d nodes, RF=%d W=%d R=%d, partitions detected with chance %.1f, read leases %v", s.n, s.rf, s.w, s.r, detection, o.leases)
	return s
}

func (s *sim) logf(format string, args ...any) {
	line := fmt.Sprintf("[%d] ", s.i) + fmt.Sprintf(format, args...)
	if *flagTrace {
		s.t.Log(line)
	}
	s.trail = append(s.trail, line)
	if len(s.trail) > 60 {
		s.trail = s.trail[1:]
	}
}

// fail stops the run, printing the recent schedule and the key's history.
func (s *sim) fail(reg *register, format string, args ...any) {
	s.t.Helper()
	msg := fmt.Sprintf(format, args...)
	s.logf("FAIL: %s", msg)
	hist := ""
	if reg != nil {
		hist = "\n  key history:" + reg.String()
	}
	s.t.Fatalf("seed %d, operation %d: %s%s\n  recent schedule:\n    %s", s.seed, s.i, msg, hist, strings.Join(s.trail, "\n    "))
}

func (s *sim) reg(bucket, key string) *register {
	k := bucket + "/" + key
	if s.regs[k] == nil {
		s.regs[k] = newRegister()
	}
	return s.regs[k]
}

// op is one client operation, drawn from opRng only.
type op struct {
	kind   string // put, get, delete, list, copy
	bucket string
	key    string
	// the source of a copy
	srcBucket, srcKey string
	value             []byte
	maxKeys           int
	delim             bool // list with delimiter "/"
}

func (s *sim) nextOp() op {
	rng := s.opRng
	o := op{bucket: buckets[rng.IntN(len(buckets))], key: keyName(rng.IntN(keysPerBucket))}
	switch x := rng.IntN(100); {
	case x < 42:
		o.kind = "put"
		size := 16 + rng.IntN(300)
		if rng.IntN(20) == 0 {
			size = object.InlineLimit + 1 + rng.IntN(64<<10) // chunked: shipped separately
		}
		o.value = value(s.seed, s.i, size)
	case x < 68:
		o.kind = "get"
	case x < 74:
		o.kind = "copy" // from another key, possibly in the other bucket: chunks shared, not copied
		o.srcBucket, o.srcKey = buckets[rng.IntN(len(buckets))], keyName(rng.IntN(keysPerBucket))
	case x < 90:
		o.kind = "delete"
	default:
		o.kind = "list"
		o.maxKeys = 1 + rng.IntN(keysPerBucket+1)
		o.delim = rng.IntN(2) == 0
	}
	return o
}

// value is a unique body for operation i.
func value(seed uint64, i, size int) []byte {
	head := fmt.Sprintf("seed %d op %d|", seed, i)
	b := make([]byte, max(size, len(head)))
	copy(b, head)
	for j := len(head); j < len(b); j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

func (s *sim) run(ops int) {
	for s.i = 0; s.i < ops; s.i++ {
		if s.o.faults && s.faultRg.IntN(100) < 18 {
			s.fault()
		}
		s.exec(s.nextOp())
		// Let the clock move between operations: a later operation then gets a newer version than
		// every earlier one. Hybrid clocks count milliseconds: within one, a coordinator that has
		// not yet seen another's write may stamp a later write with an older version, which then
		// loses (last writer wins by clock, not by real-time order); -gap 0 shows it, and so does
		// -skew with clocks further apart than the gap.
		time.Sleep(*flagGap + *flagGap*time.Duration(s.faultRg.IntN(3000))/1000)
		if s.i%100 == 99 {
			s.converge(false)
		}
	}
	s.converge(true)
}

// coordinator picks a live node to send the next request to.
func (s *sim) coordinator() int {
	var up []int
	for i := range s.n {
		if s.c.Node(i).Up {
			up = append(up, i)
		}
	}
	return up[s.faultRg.IntN(len(up))]
}

// reachable counts the key's home replicas that coordinator c can talk to now.
func (s *sim) reachable(c int, bucket, key string) int {
	k := 0
	for _, h := range s.c.Replicas(bucket, key) {
		if s.c.Reachable(c, h) {
			k++
		}
	}
	return k
}

// readable reports whether coordinator c reaches a read quorum of bucket/key: R home replicas,
// of which RF-W+1 are not bootstrapping (a replica refilling after a lost disk does not count
// towards reads until it has the data).
func (s *sim) readable(c int, bucket, key string) bool {
	k, safe := 0, 0
	for _, h := range s.c.Replicas(bucket, key) {
		if s.c.Reachable(c, h) {
			k++
			if !s.c.Bootstrapping(h) {
				safe++
			}
		}
	}
	return k >= s.r && safe >= s.rf-s.w+1
}

// listAvailable reports whether coordinator c reaches a read quorum of every partition.
func (s *sim) listAvailable(c int) bool {
	ids := make([]string, s.n)
	for i := range ids {
		ids[i] = s.c.Node(i).ID
	}
	for p := range placement.Partitions {
		k, safe := 0, 0
		for _, id := range placement.Replicas(p, ids, s.rf) {
			if i := slices.Index(ids, id); s.c.Reachable(c, i) {
				k++
				if !s.c.Bootstrapping(i) {
					safe++
				}
			}
		}
		if k < s.r || safe < s.rf-s.w+1 {
			return false
		}
	}
	return true
}

// placed counts the key's home replicas holding a record written since `since`, and hints
// for it held anywhere.
func (s *sim) placed(bucket, key string, since time.Time) (homes, hints int) {
	min := crdt.Timestamp(since.UnixMilli()) << 16
	for _, h := range s.c.Replicas(bucket, key) {
		recs, err := s.c.Node(h).Objects.KeyRecords(bucket, key)
		if err != nil {
			s.fail(nil, "inspect %s: %v", s.c.Node(h).ID, err)
		}
		if slices.ContainsFunc(recs, func(m object.RecordMsg) bool { return m.Version.TS >= min }) {
			homes++
		}
	}
	for i := range s.n {
		st := s.c.Node(i).Objects
		targets, _ := st.HintTargets()
		for target := range targets {
			hs, _ := st.Hints(target, 1<<20)
			for _, h := range hs {
				if h.Msg.Bucket == bucket && h.Msg.Key == key && h.Msg.Version.TS >= min {
					hints++
				}
			}
		}
	}
	return homes, hints
}

func unavailable(err error) bool { return errors.Is(err, s3err.ServiceUnavailable) }

func (s *sim) exec(o op) {
	s.counts[o.kind]++
	switch o.kind {
	case "put", "delete":
		s.execWrite(o)
	case "get":
		s.execGet(o)
	case "list":
		s.execList(o)
	case "copy":
		s.execCopy(o)
	}
}

// execCopy copies the source's current version to the key: a read of the source, then a write
// of whichever value it read.
func (s *sim) execCopy(o op) {
	src, reg := s.reg(o.srcBucket, o.srcKey), s.reg(o.bucket, o.key)
	if s.ref != nil {
		s.ref.copy(o)
	}
	for attempt := 0; ; attempt++ {
		c := s.coordinator()
		avail := !s.dropping && s.readable(c, o.srcBucket, o.srcKey) && s.reachable(c, o.bucket, o.key) >= s.w
		start := time.Now()
		info, err := s.c.Store(c).CopyObject(s.ctx, o.srcBucket, o.srcKey, "", o.bucket, o.key, object.CopyOptions{})
		if errors.Is(err, object.ErrNoSuchKey) {
			if why, _ := src.checkRead(observed{absent: true}); why != "" {
				s.fail(src, "copy from %s/%s via n%d: source %s", o.srcBucket, o.srcKey, c, why)
			}
			s.logf("copy %s/%s -> %s/%s via n%d: no source", o.srcBucket, o.srcKey, o.bucket, o.key, c)
			return
		}
		if err != nil {
			s.logf("copy %s/%s -> %s/%s via n%d: %v", o.srcBucket, o.srcKey, o.bucket, o.key, c, err)
			s.counts["copy failed"]++
			if avail {
				s.fail(reg, "copy through n%d failed though both quorums were reachable and no message was lost: %v", c, err)
			}
			if !unavailable(err) && !s.dropping {
				s.fail(reg, "copy failed with %v, not ServiceUnavailable", err)
			}
			// Whatever the source read, it may have been written: any value the source may hold.
			for _, w := range src.candidates() {
				if !w.deleted {
					reg.record(write{op: s.i, value: w.value, etag: w.etag})
				}
			}
			if s.o.retry && attempt < 5 {
				s.healAll()
				continue
			}
			return
		}
		why, sw := src.checkRead(observed{etag: info.ETag})
		if why != "" {
			s.fail(src, "copy from %s/%s via n%d: source %s", o.srcBucket, o.srcKey, c, why)
		}
		s.keepVersion(o.bucket, o.key, info.VersionID, sw.value)
		w := write{op: s.i, value: sw.value, etag: sw.etag, acked: true}
		homes, hints := s.placed(o.bucket, o.key, start)
		switch {
		case homes >= s.w:
			w.strict = true
		case s.n == s.rf:
			s.fail(reg, "copy acknowledged while only %d home replicas hold it (W=%d, no fallback nodes)", homes, s.w)
		default:
			s.counts["sloppy acks"]++
		}
		reg.record(w)
		s.logf("copy %s/%s -> %s/%s via n%d: ok -> %v [homes %d, hints %d]", o.srcBucket, o.srcKey, o.bucket, o.key, c, w, homes, hints)
		return
	}
}

func (s *sim) execWrite(o op) {
	reg := s.reg(o.bucket, o.key)
	if s.ref != nil {
		s.ref.write(o)
	}
	for attempt := 0; ; attempt++ {
		c := s.coordinator()
		st := s.c.Store(c)
		need := s.w
		if o.kind == "delete" {
			need = max(s.r, s.w) // an unversioned delete reads the key first
		}
		avail := !s.dropping && s.reachable(c, o.bucket, o.key) >= need
		start := time.Now()
		var err error
		w := write{op: s.i, deleted: o.kind == "delete"}
		if o.kind == "put" {
			w.value, w.etag = o.value, etagOf(o.value)
			var info object.ObjectInfo
			info, err = st.PutObject(s.ctx, o.bucket, o.key, bytes.NewReader(o.value), int64(len(o.value)), object.PutOptions{})
			if err == nil {
				s.keepVersion(o.bucket, o.key, info.VersionID, o.value)
			}
		} else {
			_, err = st.DeleteObject(s.ctx, o.bucket, o.key, "")
		}
		if err != nil {
			s.logf("%s %s/%s via n%d: %v", o.kind, o.bucket, o.key, c, err)
			s.counts[o.kind+" failed"]++
			if avail {
				s.fail(reg, "%s through n%d failed though the quorum was reachable and no message was lost: %v", o.kind, c, err)
			}
			if !unavailable(err) && !s.dropping {
				s.fail(reg, "%s failed with %v, not ServiceUnavailable", o.kind, err)
			}
			reg.record(w)
			if s.o.retry && attempt < 5 {
				s.healAll()
				continue
			}
			return
		}
		w.acked = true
		homes, hints := s.placed(o.bucket, o.key, start)
		switch {
		case homes >= s.w:
			w.strict = true
		case s.n == s.rf:
			s.fail(reg, "%s acknowledged while only %d home replicas hold it (W=%d, no fallback nodes)", o.kind, homes, s.w)
		default:
			s.counts["sloppy acks"]++
		}
		reg.record(w)
		s.logf("%s %s/%s via n%d: ok -> %v [homes %d, hints %d]", o.kind, o.bucket, o.key, c, w, homes, hints)
		return
	}
}

// read gets bucket/key through node c and checks the content against its ETag.
func (s *sim) read(c int, bucket, key string) (observed, []byte, error) {
	info, rd, err := s.c.Store(c).GetObject(s.ctx, bucket, key, "", 0, -1)
	if errors.Is(err, object.ErrNoSuchKey) {
		return observed{absent: true}, nil, nil
	}
	if err != nil {
		return observed{}, nil, err
	}
	defer rd.Close()
	body, err := io.ReadAll(rd)
	if err != nil {
		return observed{}, nil, err
	}
	if etagOf(body) != info.ETag || int64(len(body)) != info.Size {
		s.fail(s.reg(bucket, key), "get %s/%s via n%d: body (%d bytes, md5 %s) does not match its ETag %s size %d",
			bucket, key, c, len(body), etagOf(body), info.ETag, info.Size)
	}
	return observed{etag: info.ETag}, body, nil
}

func (s *sim) execGet(o op) {
	reg := s.reg(o.bucket, o.key)
	for attempt := 0; ; attempt++ {
		c := s.coordinator()
		avail := !s.dropping && s.readable(c, o.bucket, o.key)
		obs, body, err := s.read(c, o.bucket, o.key)
		if err != nil {
			s.logf("get %s/%s via n%d: %v", o.bucket, o.key, c, err)
			s.counts["get failed"]++
			if avail {
				s.fail(reg, "get through n%d failed though the quorum was reachable and no message was lost: %v", c, err)
			}
			if !unavailable(err) && !s.dropping {
				s.fail(reg, "get failed with %v, not ServiceUnavailable", err)
			}
			if s.o.retry && attempt < 5 {
				s.healAll()
				continue
			}
			return
		}
		why, w := reg.checkRead(obs)
		if why != "" {
			s.fail(reg, "get %s/%s via n%d: %s%s", o.bucket, o.key, c, why, s.dump(o.bucket, o.key))
		}
		if !w.deleted && !bytes.Equal(body, w.value) {
			s.fail(reg, "get %s/%s: content differs from what %v wrote", o.bucket, o.key, w)
		}
		if s.ref != nil {
			robs, _ := s.ref.get(o.bucket, o.key)
			s.checkRef(o.bucket, o.key, robs)
		}
		s.logf("get %s/%s via n%d: %v (%v)", o.bucket, o.key, c, obs, w)
		return
	}
}

// list lists a bucket through node c, page by page (with delimiter "/" when delim).
func (s *sim) list(c int, bucket string, maxKeys int, delim bool) (map[string]object.ObjectInfo, map[string]bool, error) {
	out, prefixes := map[string]object.ObjectInfo{}, map[string]bool{}
	opts := object.ListOptions{MaxKeys: maxKeys}
	if delim {
		opts.Delimiter = "/"
	}
	for pages := 0; ; pages++ {
		res, err := s.c.Store(c).ListObjects(s.ctx, bucket, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, oi := range res.Objects {
			if _, dup := out[oi.Key]; dup || oi.Key <= opts.Marker {
				s.fail(nil, "list %s via n%d: key %q again or out of order (marker %q)", bucket, c, oi.Key, opts.Marker)
			}
			out[oi.Key] = oi
		}
		for _, cp := range res.CommonPrefixes {
			if prefixes[cp] || cp <= opts.Marker {
				s.fail(nil, "list %s via n%d: prefix %q again or out of order (marker %q)", bucket, c, cp, opts.Marker)
			}
			prefixes[cp] = true
		}
		if !res.IsTruncated {
			return out, prefixes, nil
		}
		if res.NextMarker == "" || res.NextMarker <= opts.Marker || pages > 2*keysPerBucket {
			s.fail(nil, "list %s via n%d: truncated page with next marker %q after %q", bucket, c, res.NextMarker, opts.Marker)
		}
		opts.Marker = res.NextMarker
	}
}

func (s *sim) execList(o op) {
	for attempt := 0; ; attempt++ {
		c := s.coordinator()
		got, prefixes, err := s.list(c, o.bucket, o.maxKeys, o.delim)
		if err != nil {
			s.logf("list %s via n%d: %v", o.bucket, c, err)
			s.counts["list failed"]++
			if !s.dropping && s.listAvailable(c) {
				s.fail(nil, "list %s through n%d failed though every partition had a reachable quorum and no message was lost: %v", o.bucket, c, err)
			}
			if !unavailable(err) && !s.dropping {
				s.fail(nil, "list failed with %v, not ServiceUnavailable", err)
			}
			if s.o.retry && attempt < 5 {
				s.healAll()
				continue
			}
			return
		}
		for k := range got {
			if !slices.Contains(allKeys(), k) || o.delim && strings.HasPrefix(k, "d/") {
				s.fail(nil, "list %s (delimiter %v): unexpected key %q", o.bucket, o.delim, k)
			}
		}
		for cp := range prefixes {
			if !o.delim || cp != "d/" {
				s.fail(nil, "list %s (delimiter %v): unexpected common prefix %q", o.bucket, o.delim, cp)
			}
		}
		if o.delim {
			s.checkPrefix(o.bucket, c, prefixes["d/"])
		}
		var ref map[string]object.ObjectInfo
		if s.ref != nil {
			ref = s.ref.list(o.bucket)
		}
		for i := range keysPerBucket {
			key := keyName(i)
			reg := s.reg(o.bucket, key)
			if ref != nil {
				robs := observed{absent: true}
				if oi, ok := ref[key]; ok {
					robs = observed{etag: oi.ETag}
				}
				s.checkRef(o.bucket, key, robs)
			}
			if o.delim && strings.HasPrefix(key, "d/") {
				continue // under the common prefix
			}
			obs := observed{absent: true}
			if oi, ok := got[key]; ok {
				obs = observed{etag: oi.ETag}
			}
			why, w := reg.checkRead(obs)
			if why != "" {
				s.fail(reg, "list %s via n%d, key %s: %s%s", o.bucket, c, key, why, s.dump(o.bucket, key))
			}
			if oi, ok := got[key]; ok && oi.Size != int64(len(w.value)) {
				s.fail(reg, "list %s, key %s: size %d, %v wrote %d bytes", o.bucket, key, oi.Size, w, len(w.value))
			}
		}
		s.logf("list %s via n%d (max %d, delimiter %v): %d keys, prefixes %v", o.bucket, c, o.maxKeys, o.delim, len(got), slices.Collect(maps.Keys(prefixes)))
		return
	}
}

func allKeys() []string {
	out := make([]string, keysPerBucket)
	for i := range out {
		out[i] = keyName(i)
	}
	return out
}

// checkPrefix checks a listing's common prefix "d/": shown only if one of the keys under it may
// be present now, left out only if all of them may be absent.
func (s *sim) checkPrefix(bucket string, c int, shown bool) {
	var regs []*register
	for _, k := range allKeys() {
		if strings.HasPrefix(k, "d/") {
			regs = append(regs, s.reg(bucket, k))
		}
	}
	may := func(r *register, present bool) bool {
		return slices.ContainsFunc(r.candidates(), func(w write) bool { return w.deleted != present })
	}
	for _, r := range regs {
		if shown && may(r, true) {
			return
		}
		if !shown && !may(r, false) {
			s.fail(r, "list %s via n%d with delimiter: no common prefix d/ though this key is present", bucket, c)
		}
	}
	if shown {
		s.fail(regs[0], "list %s via n%d with delimiter: common prefix d/ though every key under it is absent", bucket, c)
	}
}

// fault applies one random fault or background step.
func (s *sim) fault() {
	rng := s.faultRg
	var down, up []int
	for i := range s.n {
		if s.c.Node(i).Up {
			up = append(up, i)
		} else {
			down = append(down, i)
		}
	}
	maxDown := (s.n - 1) / 2 // a majority stays up
	switch x := rng.IntN(100); {
	case x < 14 && len(down) < maxDown:
		i := up[rng.IntN(len(up))]
		s.c.Crash(i)
		s.counts["crash"]++
		s.logf("FAULT crash n%d", i)
	case x < 28 && len(down) > 0:
		i := down[rng.IntN(len(down))]
		s.quiesce()
		s.c.Restart(i)
		s.counts["restart"]++
		s.logf("FAULT restart n%d", i)
	case x < 32 && !s.wiped && len(down) < maxDown:
		i := up[rng.IntN(len(up))]
		s.quiesce()
		s.c.Wipe(i)
		s.wiped = true // reads stay strict: the wiped node bootstraps (replicate/bootstrap.go)
		s.counts["wipe"]++
		s.logf("FAULT wipe n%d (disk lost, restarted empty)", i)
		if s.o.retry {
			s.converge(false) // see TestMetamorphic
		}
	case x < 50:
		s.partition()
	case x < 64:
		s.c.Heal()
		s.logf("FAULT heal partitions")
	case x < 72:
		s.setDrops(!s.dropping)
	case x < 86:
		i := up[rng.IntN(len(up))]
		st := s.c.Node(i).Repl
		s.background(i, "hints", st.DeliverHintsNow)
	default:
		i := up[rng.IntN(len(up))]
		st := s.c.Node(i).Repl
		s.background(i, "anti-entropy", func() { st.AntiEntropyNow(s.ctx) })
	}
}

// background runs a round of a node's background work: now, or (half the time) alongside the
// operations and faults that follow, as the real loops do. A node's stores are closed only after
// such rounds end (quiesce).
func (s *sim) background(i int, what string, fn func()) {
	s.counts[what+" round"]++
	if s.faultRg.IntN(2) == 0 {
		s.logf("BACKGROUND %s on n%d", what, i)
		fn()
		return
	}
	s.logf("BACKGROUND %s on n%d, concurrently", what, i)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

// quiesce waits for background rounds started concurrently.
func (s *sim) quiesce() { s.bg.Wait() }

// partition replaces any partition by a new one that leaves a majority of the nodes connected:
// one node isolated, one link cut, or (5 nodes) two nodes split from three.
func (s *sim) partition() {
	rng := s.faultRg
	s.c.Heal()
	switch x := rng.IntN(3); {
	case x == 0:
		i := rng.IntN(s.n)
		s.c.Isolate(i)
		s.counts["isolate"]++
		s.logf("FAULT isolate n%d", i)
	case x == 1 || s.n < 5:
		i := rng.IntN(s.n)
		j := (i + 1 + rng.IntN(s.n-1)) % s.n
		s.c.Cut(i, j)
		s.counts["cut"]++
		s.logf("FAULT cut n%d-n%d", i, j)
	default:
		p := rng.Perm(s.n)
		for _, a := range p[:2] {
			for _, b := range p[2:] {
				s.c.Cut(a, b)
			}
		}
		s.counts["split"]++
		s.logf("FAULT split %v | %v", p[:2], p[2:])
	}
}

func (s *sim) setDrops(on bool) {
	cfg := s.c.Net.Config()
	cfg.DropProb = 0
	if on {
		cfg.DropProb = 0.02 + 0.1*s.faultRg.Float64()
		s.counts["drops"]++
	}
	s.c.Net.Configure(cfg)
	s.dropping = on
	s.logf("FAULT message loss %.2f", cfg.DropProb)
}

// healAll ends every fault: partitions, message loss, crashed nodes.
func (s *sim) healAll() {
	s.quiesce()
	s.c.Heal()
	if s.dropping {
		s.setDrops(false)
	}
	for i := range s.n {
		if !s.c.Node(i).Up {
			s.c.Restart(i)
			s.logf("restart n%d", i)
		}
	}
}

// converge heals everything, lets the background work run and checks that every replica of
// every key holds the same records, that no hint is left, that every node reads the state the
// history allows, and that acknowledged versions are readable (all of them when final); then
// the model restarts from that state.
func (s *sim) converge(final bool) {
	time.Sleep(time.Minute) // everything in flight lands or times out (virtual time)
	s.healAll()
	rounds := 0
	for ; rounds < 4; rounds++ {
		s.c.Settle(s.ctx, 1)
		time.Sleep(time.Minute)
		if s.diverged() == "" && s.c.PendingHints() == 0 {
			break
		}
	}
	if d := s.diverged(); d != "" {
		s.fail(nil, "replicas still differ after %d rounds of hints and anti-entropy: %s", rounds, d)
	}
	if h := s.c.PendingHints(); h != 0 {
		s.fail(nil, "%d hints still pending after %d rounds", h, rounds)
	}
	s.counts[fmt.Sprintf("converged in %d rounds", rounds+1)]++
	for _, b := range buckets {
		for k := range keysPerBucket {
			key := keyName(k)
			reg := s.reg(b, key)
			var first observed
			var body []byte
			for c := range s.n {
				obs, b1, err := s.read(c, b, key)
				if err != nil {
					s.fail(reg, "after healing, get %s/%s via n%d: %v", b, key, c, err)
				}
				if c > 0 && obs != first {
					s.fail(reg, "after healing, n0 reads %v and n%d reads %v for %s/%s", first, c, obs, b, key)
				}
				first, body = obs, b1
			}
			why, w := reg.checkFinal(first)
			if why != "" {
				s.fail(reg, "%s/%s: %s", b, key, why)
			}
			if s.ref != nil {
				s.compareFinal(b, key, first, body)
			}
			reg.settle(first, w)
		}
		if s.ref != nil {
			s.compareListing(b)
		}
		s.checkVersionListings(b)
	}
	s.checkVersions(final)
	s.wiped = false
	s.logf("converged (%d rounds)", rounds+1)
}

// checkVersionListings lists bucket's versions through every node, in pages of a random size,
// and demands the same listing from all (the site has converged), with one latest version per
// listed key and every version of the checked keys' latest state present.
func (s *sim) checkVersionListings(bucket string) {
	var first []string
	for c := range s.n {
		var got []string
		latest := map[string]int{}
		opts := object.VersionListOptions{MaxKeys: 1 + (7*c+s.i)%6} // no draw: the seeds' schedules stay as they were
		for pages := 0; ; pages++ {
			res, err := s.c.Store(c).ListObjectVersions(s.ctx, bucket, opts)
			if err != nil {
				s.fail(nil, "after healing, list versions of %s via n%d: %v", bucket, c, err)
			}
			for _, v := range res.Versions {
				got = append(got, fmt.Sprintf("%s@%s:%v:%s", v.Key, v.VersionID, v.DeleteMarker, v.ETag))
				if v.IsLatest {
					latest[v.Key]++
				}
			}
			if !res.IsTruncated {
				break
			}
			if pages > 1000 {
				s.fail(nil, "list versions of %s via n%d does not end", bucket, c)
			}
			opts.KeyMarker, opts.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
		}
		for k, n := range latest {
			if n != 1 {
				s.fail(s.reg(bucket, k), "list versions of %s via n%d: %d latest versions of %s", bucket, c, n, k)
			}
		}
		if c == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			s.fail(nil, "after healing, n0 and n%d list different versions of %s:\n  n0: %v\n  n%d: %v", c, bucket, first, c, got)
		}
	}
}

type keptVersion struct {
	bucket, key, id string
	value           []byte
}

func (s *sim) keepVersion(bucket, key, id string, value []byte) {
	if bucket == "vers" {
		s.versions = append(s.versions, keptVersion{bucket, key, id, value})
	}
}

// checkVersions reads by id, through a random node, every acknowledged version of the versioned
// bucket written since the last convergence (all of them at the end of the run): no acknowledged
// write may be lost, even once overwritten.
func (s *sim) checkVersions(all bool) {
	from := s.checked
	if all {
		from = 0
	}
	for _, v := range s.versions[from:] {
		c := s.faultRg.IntN(s.n)
		_, rd, err := s.c.Store(c).GetObject(s.ctx, v.bucket, v.key, v.id, 0, -1)
		if err != nil {
			s.fail(s.reg(v.bucket, v.key), "acknowledged version %s of %s/%s via n%d: %v%s", v.id, v.bucket, v.key, c, err, s.dump(v.bucket, v.key))
		}
		body, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || !bytes.Equal(body, v.value) {
			s.fail(s.reg(v.bucket, v.key), "acknowledged version %s of %s/%s reads %d bytes (%v), want %d", v.id, v.bucket, v.key, len(body), err, len(v.value))
		}
	}
	s.checked = len(s.versions)
}

// diverged describes the first key whose home replicas hold different records, or a record held
// by a node that is not a home replica ("" when all agree).
func (s *sim) diverged() string {
	for _, b := range buckets {
		for k := range keysPerBucket {
			key := keyName(k)
			homes := s.c.Replicas(b, key)
			want, err := s.c.Node(homes[0]).Objects.KeyRecords(b, key)
			if err != nil {
				return err.Error()
			}
			for j := range s.n {
				recs, err := s.c.Node(j).Objects.KeyRecords(b, key)
				if err != nil {
					return err.Error()
				}
				if !slices.Contains(homes, j) {
					if len(recs) > 0 {
						return fmt.Sprintf("%s/%s: n%d holds %d records but is not a replica", b, key, j, len(recs))
					}
					continue
				}
				if !sameRecords(want, recs) {
					return fmt.Sprintf("%s/%s: n%d holds %s, n%d holds %s", b, key, homes[0], describe(want), j, describe(recs))
				}
			}
		}
	}
	return ""
}

// dump describes what every node holds for a key, for failure reports.
func (s *sim) dump(bucket, key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  replicas of %s/%s (home %v):", bucket, key, s.c.Replicas(bucket, key))
	for j := range s.n {
		recs, err := s.c.Node(j).Objects.KeyRecords(bucket, key)
		fmt.Fprintf(&b, "\n    n%d: %s %v", j, describe(recs), err)
	}
	return b.String()
}

func sameRecords(a, b []object.RecordMsg) bool {
	return slices.EqualFunc(a, b, func(x, y object.RecordMsg) bool {
		return x.Version == y.Version && bytes.Equal(x.Enc, y.Enc)
	})
}

func describe(recs []object.RecordMsg) string {
	parts := make([]string, len(recs))
	for i, m := range recs {
		info, _ := m.Info(false)
		what := "put " + info.ETag
		switch {
		case m.Hidden():
			what = "tombstone/purge"
		case info.DeleteMarker:
			what = "delete marker"
		}
		parts[i] = fmt.Sprintf("%x.%x:%s", uint64(m.Version.TS), m.Version.Node&0xffff, what)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (s *sim) report() {
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.counts[k])
	}
	st := s.c.Net.Stats()
	if s.o.leases {
		var reads, waits, fetched, lapses int64
		for i := range s.n {
			if r := s.c.Node(i).Repl; r != nil {
				reads += r.Stats.LeaseReads.Load()
				waits += r.Stats.LeaseWaits.Load()
				fetched += r.Stats.LeaseFetched.Load()
				lapses += r.Stats.LeaseLapses.Load()
			}
		}
		fmt.Fprintf(&b, " lease: reads=%d waits=%d fetched=%d lapses=%d (live nodes, since their last start)", reads, waits, fetched, lapses)
	}
	s.t.Logf("seed %d: %d nodes, %d ops:%s; net sent=%d dropped=%d refused=%d cut=%d",
		s.seed, s.n, s.i, b.String(), st.Sent, st.Dropped, st.Refused, st.Cut)
}
