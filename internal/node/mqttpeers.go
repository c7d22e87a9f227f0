package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/replicate"
)

// mqttPeers joins the brokers of a site over the mesh RPC: every message published on this node
// is sent, in batches and in order, to every other live node of the site, whose broker delivers it
// to its own subscribers without forwarding it again. Forward never blocks the publisher: the
// queue is bounded, and messages that do not fit are counted as dropped (a visible metric, never
// silent). A peer that fails a batch gets it again a few times before it is dropped.
type mqttPeers struct {
	n       *Node
	client  *replicate.Client
	queue   chan peerMsg
	dropped atomic.Int64
	repl    *streamRepl // stream logs' copies on the other nodes (streamrepl.go)
	cancel  context.CancelFunc
	done    chan struct{}
}

type peerMsg struct {
	Topic   string `json:"t"`
	Payload []byte `json:"p"`
	QoS     byte   `json:"q,omitempty"`
	Retain  bool   `json:"r,omitempty"`
}

const mqttPeerQueue = 1 << 16

func (n *Node) startMQTTPeers(client *replicate.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &mqttPeers{n: n, client: client, queue: make(chan peerMsg, mqttPeerQueue), cancel: cancel, done: make(chan struct{})}
	n.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "minicloud_mqtt_peer_dropped_total",
		Help: "MQTT messages not forwarded to other nodes of the site because the queue was full or a peer kept failing.",
	}, func() float64 { return float64(p.dropped.Load()) }))
	n.cluster.rpc.Mux.HandleFunc("POST /rpc/mqtt", p.receive)
	n.streams.mu.Lock()
	j := n.streams.journal
	n.streams.mu.Unlock()
	if j != nil {
		p.repl = n.startStreamRepl(client, j)
	}
	n.mqttPeers = p
	n.edge.broker.SetPeers(p)
	go p.run(ctx)
}

// Forward queues a locally published message for the other nodes.
func (p *mqttPeers) Forward(topic string, payload []byte, qos byte, retain bool) {
	select {
	case p.queue <- peerMsg{topic, append([]byte(nil), payload...), qos, retain}:
	default:
		p.dropped.Add(1)
	}
}

func (p *mqttPeers) run(ctx context.Context) {
	defer close(p.done)
	batch := make([]peerMsg, 0, 512)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-p.queue:
			batch = append(batch[:0], m)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		p.send(ctx, batch)
	}
}

// send delivers a batch to every live node of the site, in parallel, retrying a failing peer.
func (p *mqttPeers) send(ctx context.Context, batch []peerMsg) {
	body, err := json.Marshal(batch)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, m := range p.n.cluster.mesh.Members() {
		if m.ID == p.n.id || m.Site != p.n.cfg.Site || !m.Alive || m.Decommissioned {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			for attempt := 0; attempt < 3; attempt++ {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := p.client.Post(cctx, addr, "/rpc/mqtt", body)
				cancel()
				if err == nil {
					return
				}
				time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
			}
			p.dropped.Add(int64(len(batch)))
		}(m.RPC)
	}
	wg.Wait()
}

func (p *mqttPeers) receive(w http.ResponseWriter, r *http.Request) {
	var batch []peerMsg
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b := p.n.edge.broker
	if b == nil {
		http.Error(w, "no broker", http.StatusServiceUnavailable)
		return
	}
	for _, m := range batch {
		if err := b.DeliverFromPeer(m.Topic, m.Payload, m.QoS, m.Retain); err != nil {
			p.n.log.Debug("deliver message from peer", "topic", m.Topic, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *mqttPeers) close() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	p.repl.close()
}

var _ mqtt.Peers = (*mqttPeers)(nil)
