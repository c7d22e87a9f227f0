package node

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/stream"
)

// Stream logs are replicated within the site as objects are (DESIGN I1): a message that a
// stream logs is appended to this node's log and sent to every other live node of the site,
// which appends it to its own log (as a Peer entry under the same id: origin node and offset
// there) and answers once that is durable; a QoS 1 or 2 publish is acknowledged only when
// this node's copy and W-1 of the peers' are (W is --write-quorum). So an acknowledged message
// survives SIGKILL or the loss of the node it entered through: it is in the logs of the nodes
// that acknowledged it, and was delivered to their subscribers. A node that missed copies
// (down, stopped, its queue full) catches up from each other node's log (streamcatchup.go,
// internal/stream/peersync.go): every node's log converges on every message of the site,
// each once.
//
// What is weaker than objects, and why:
//   - A peer that gossip says is alive but that fails (a SIGKILL not yet detected) or whose
//     queue is full counts as down for that message: the publish is then acknowledged with
//     fewer copies when fewer peers answer (counted in
//     minicloud_stream_underreplicated_acks_total) rather than refused. An edge site keeps
//     taking its sensors' data with one node left; objects refuse such writes.
//   - While the node a message entered by is down, a node catches up from the others' copies,
//     read by time (the site's clocks must agree within a minute for it to find them all).
//   - Forwarding to other sites and archiving ship the copy of the node the message entered
//     by (Local entries): if that node's disk is lost for good, the peer copies stay readable
//     in the site but are not forwarded.
//
// Delivery to MQTT subscribers on the other nodes still rides on mqttPeers (best effort,
// separate queue): the peer's journal ignores those deliveries (FromPeer), the replication RPC
// below logs them.

// siteJournal is the broker's journal on a node: the stream manager, plus replication to the
// site's other nodes once the mesh is up.
type siteJournal struct {
	m    *stream.Manager
	repl atomic.Pointer[streamRepl]
}

var _ mqtt.Journal = (*siteJournal)(nil)

func (j *siteJournal) Record(msg mqtt.JournalMessage) mqtt.Pending {
	if msg.FromPeer {
		return nil // logged when the replication RPC or catch-up brings it, under its id
	}
	r := j.repl.Load()
	if r == nil {
		return j.m.Record(msg)
	}
	p, es := j.m.RecordForPeers(msg)
	if p == nil {
		return nil
	}
	return &replPending{p, r.replicate(es, msg.QoS > 0)}
}

// replPending is a message durable once in this node's log and on W-1 peers.
type replPending struct {
	local mqtt.Pending
	e     *replEntry
}

func (p *replPending) Wait() error {
	err := p.local.Wait()
	p.e.wait()
	return err
}

func (p *replPending) Done() bool { return p.local.Done() && p.e.isDone() }

// streamRepl sends stream messages to the site's other nodes.
type streamRepl struct {
	n      *Node
	client *replicate.Client
	want   int // copies on peers a publish waits for: W-1
	j      *siteJournal

	peers atomic.Pointer[[]*replPeer] // live peers of the site now
	byID  map[string]*replPeer        // refresher goroutine only

	under, dropped atomic.Int64
	ctx            context.Context
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

// replEntry is one message on its way to the peers: as each stream logged it.
type replEntry struct {
	es   []stream.PeerEntry
	r    *streamRepl
	done chan struct{} // nil: nobody waits (QoS 0, or no peer to wait for)

	mu             sync.Mutex
	targets, need  int // peers it was queued for; acks that complete it
	acks, answered int
	closed         bool
}

// replWaitMax bounds a publisher's wait for peers: a peer dropped from the set while a message
// was being queued for it never answers; past this, the message counts as under-replicated.
const replWaitMax = 15 * time.Second

func (e *replEntry) wait() {
	if e.done == nil {
		return
	}
	t := time.NewTimer(replWaitMax)
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
		e.r.under.Add(1)
	}
}

// isDone tells, without blocking, whether wait would return at once.
func (e *replEntry) isDone() bool {
	if e.done == nil {
		return true
	}
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// result records one peer's answer; the entry is done when need peers have it, or when every
// peer answered (with fewer copies: counted as under-replicated).
func (e *replEntry) result(ok bool) {
	if e.done == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ok {
		e.acks++
	}
	e.answered++
	if e.closed || e.acks < e.need && e.answered < e.targets {
		return
	}
	e.closed = true
	if e.acks < e.r.want {
		e.r.under.Add(1)
	}
	close(e.done)
}

// replPeer is one peer's queue and sender goroutine.
type replPeer struct {
	id, addr string
	q        chan *replEntry
	cancel   context.CancelFunc
}

const (
	replQueue = 1 << 15 // messages waiting for one peer; beyond, the peer counts as down for them
	replBatch = 512
)

func (n *Node) startStreamRepl(client *replicate.Client, j *siteJournal) *streamRepl {
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRepl{n: n, client: client, want: n.cfg.WriteQ - 1, j: j, byID: map[string]*replPeer{}, ctx: ctx, cancel: cancel}
	none := []*replPeer{}
	r.peers.Store(&none)
	n.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "minicloud_stream_underreplicated_acks_total",
			Help: "QoS 1/2 stream messages acknowledged with fewer than write-quorum copies in the site because peers were down or failing.",
		}, func() float64 { return float64(r.under.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "minicloud_stream_replication_dropped_total",
			Help: "Stream messages not copied to a peer of the site (its queue was full or it failed).",
		}, func() float64 { return float64(r.dropped.Load()) }),
	)
	n.cluster.rpc.Mux.HandleFunc("POST "+peerAppendPath, r.receive)
	n.cluster.rpc.Mux.HandleFunc("GET "+catchUpPath, r.serveCatchUp)
	n.cluster.rpc.Mux.HandleFunc("GET "+relayPath, r.serveRelay)
	r.refresh()
	r.wg.Add(2)
	go r.watch()
	go r.catchUpLoop()
	j.repl.Store(r)
	return r
}

// replicate queues a message, as the streams logged it, for every live peer; the entry's wait
// returns once W-1 have it.
func (r *streamRepl) replicate(es []stream.PeerEntry, durable bool) *replEntry {
	peers := *r.peers.Load()
	if r.ctx.Err() != nil {
		peers = nil // closing: nobody sends any more
	}
	if len(es) > 0 {
		payload := append([]byte(nil), es[0].Payload...) // the broker's buffer: copied once for every stream
		for i := range es {
			es[i].Payload = payload
		}
	}
	e := &replEntry{es: es, r: r, targets: len(peers), need: min(r.want, len(peers))}
	if durable {
		if e.need > 0 {
			e.done = make(chan struct{})
		} else if r.want > 0 {
			r.under.Add(1) // no peer alive to copy it to
		}
	}
	for _, p := range peers {
		select {
		case p.q <- e:
		default:
			r.dropped.Add(1)
			e.result(false)
		}
	}
	return e
}

// watch keeps the peer set in line with the mesh's view of the site until stopped.
func (r *streamRepl) watch() {
	defer r.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			for id, p := range r.byID {
				p.cancel()
				delete(r.byID, id)
			}
			return
		case <-t.C:
			r.refresh()
		}
	}
}

func (r *streamRepl) refresh() {
	live := map[string]string{}
	for _, m := range r.n.cluster.mesh.Members() {
		if m.ID != r.n.id && m.Site == r.n.cfg.Site && m.Alive && !m.Decommissioned {
			live[m.ID] = m.RPC
		}
	}
	changed := false
	for id, p := range r.byID {
		if addr, ok := live[id]; !ok || addr != p.addr {
			p.cancel() // its goroutine fails what is still queued
			delete(r.byID, id)
			changed = true
		}
	}
	for id, addr := range live {
		if r.byID[id] == nil {
			ctx, cancel := context.WithCancel(r.ctx)
			p := &replPeer{id: id, addr: addr, q: make(chan *replEntry, replQueue), cancel: cancel}
			r.byID[id] = p
			r.wg.Add(1)
			go r.send(ctx, p)
			changed = true
		}
	}
	if changed {
		peers := make([]*replPeer, 0, len(r.byID))
		for _, p := range r.byID {
			peers = append(peers, p)
		}
		r.peers.Store(&peers)
	}
}

// send ships p's queue in batches, in order, until ctx ends; then it fails what is left (a
// replicate that loaded the old peer set may still queue a little: those wait for the drain).
func (r *streamRepl) send(ctx context.Context, p *replPeer) {
	defer r.wg.Done()
	batch := make([]*replEntry, 0, replBatch)
	out := stream.PeerBatch{Origin: r.n.id, Entries: make([]stream.PeerEntry, 0, replBatch)}
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			r.drain(p)
			return
		case e := <-p.q:
			batch = append(batch[:0], e)
		}
	fill:
		for len(batch) < replBatch {
			select {
			case e := <-p.q:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		out.Entries = out.Entries[:0]
		for _, e := range batch {
			out.Entries = append(out.Entries, e.es...)
		}
		buf = stream.AppendPeerBatch(buf[:0], &out)
		err := r.post(ctx, p.addr, buf)
		if err != nil {
			r.dropped.Add(int64(len(batch)))
			r.n.log.Debug("stream replication to a peer failed", "peer", p.id, "messages", len(batch), "err", err)
		}
		for _, e := range batch {
			e.result(err == nil)
		}
	}
}

func (r *streamRepl) drain(p *replPeer) {
	for {
		select {
		case e := <-p.q:
			r.dropped.Add(1)
			e.result(false)
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// post sends an encoded batch, trying again once on failure (a connection the peer closed while
// idle; the peer drops what it already logged).
func (r *streamRepl) post(ctx context.Context, addr string, body []byte) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.client.Post(cctx, addr, peerAppendPath, body)
		cancel()
		if err == nil || attempt == 1 || ctx.Err() != nil {
			return err
		}
	}
}

// peerAppendPath carries live copies (a stream.PeerBatch). Its earlier JSON form, which bore no
// ids, was POST /rpc/stream-append: a node of an older version gets an error from a node of
// this one (counted as a dropped copy) and is caught up once it runs this one too.
const peerAppendPath = "/rpc/stream-peer"

// receive logs a peer's batch of live copies in this node's logs and answers once durable.
func (r *streamRepl) receive(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		http.Error(w, "stream copies: "+err.Error(), http.StatusBadRequest)
		return
	}
	b, err := stream.DecodePeerBatch(body)
	if err != nil {
		http.Error(w, "stream copies: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range b.Entries {
		if err := mqtt.ValidTopic(e.Topic); err != nil {
			http.Error(w, "stream copies: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	m := r.n.streams.manager()
	if m == nil {
		http.Error(w, "stream copies: no stream manager", http.StatusServiceUnavailable)
		return
	}
	p, err := m.AppendPeer(b.Origin, b.Entries)
	if err == nil {
		err = p.Wait()
	}
	if err != nil {
		http.Error(w, "stream copies: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *streamRepl) close() {
	if r == nil {
		return
	}
	r.j.repl.Store(nil) // the broker outlives this: it logs locally from now on
	r.cancel()
	r.wg.Wait()
}
