// Package node is minicloud's composition root: it builds a node's subsystems from a
// configuration, runs them, and closes them in order. It holds no logic of its own beyond wiring.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/minicloud/minicloud/internal/admin"
	"github.com/minicloud/minicloud/internal/config"
	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/s3api"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// Version is the build's version string.
var Version = "0.1.0-dev"

// Node is one running minicloud process.
type Node struct {
	cfg       config.Serve
	log       *slog.Logger
	id        string
	started   time.Time
	meta      *metastore.DB
	objects   *object.Store
	keys      *iam.Store
	reg       *prometheus.Registry
	s3        *http.Server
	s3ln      net.Listener
	repl      *replicate.Store
	cluster   *cluster
	mqttPeers *mqttPeers
	usage     usage
	edge      edge      // MQTT broker, HTTP ingest, rules: edge.go
	streams   streams   // stream logs, forwarding, archives: streams.go
	ruleTable ruleTable // the rules mesh table: rules.go
}

// New opens the node's storage and builds its servers; out receives first-start messages.
func New(cfg config.Serve, log *slog.Logger, out io.Writer) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	id, err := nodeID(cfg.Data, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	ak, sk, err := rootCredentials(cfg.Data, cfg.RootAccessKey, cfg.RootSecretKey, out)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log.With("node", id), id: id, started: time.Now(), reg: prometheus.NewRegistry()}
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	_, statErr := os.Stat(cfg.Data + "/meta")
	fresh := errors.Is(statErr, os.ErrNotExist) // an empty data dir: a new node or a replaced disk
	if n.meta, err = metastore.Open(cfg.Data+"/meta", metastore.Options{}, n.log.With("component", "metastore")); err != nil {
		return nil, err
	}
	if n.keys, err = iam.Open(n.meta, ak, sk); err != nil {
		n.meta.Close()
		return nil, err
	}
	if n.objects, err = object.Open(cfg.Data, object.Options{NodeID: id, DB: n.meta, Logger: n.log}); err != nil {
		n.meta.Close()
		return nil, err
	}
	if n.s3ln, err = net.Listen("tcp", cfg.S3); err != nil {
		n.Close()
		return nil, fmt.Errorf("listen on --s3 %s: %w", cfg.S3, err)
	}
	if cfg.Mesh != "" {
		if err := n.startCluster(n.objects, out, fresh); err != nil {
			n.Close()
			return nil, err
		}
	} else {
		n.repl = replicate.New(replicate.Options{Local: n.objects, Logger: n.log})
	}
	n.repl.Start()
	n.registerStoreMetrics()
	n.reg.MustRegister(n.repl.Collector())
	n.reg.MustRegister(n.repl.GeoCollector())
	verifier := &sigv4.Verifier{Region: cfg.Region, Secret: n.keys.Secret}
	if err := n.openStreams(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.openEdge(verifier); err != nil {
		n.Close()
		return nil, err
	}
	if n.cluster != nil {
		n.startMQTTPeers(n.cluster.client)
	}
	s3h := s3api.New(s3api.Options{
		Store: n.repl, Auth: n.keys, Verifier: verifier, Region: cfg.Region, Domain: cfg.Domain,
		Logger: n.log.With("component", "s3api"), Registry: n.reg,
	})
	adm := admin.New(admin.Options{
		Verifier: verifier, Keys: n.keys, Buckets: n.repl, Status: n.status,
		Metrics: promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}), Logger: n.log.With("component", "admin"),
		Decommission: n.decommission, Rules: n.rulesAPI(), Streams: n.streamsAPI(),
	})
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, admin.Prefix) {
			adm.ServeHTTP(w, r)
			return
		}
		if h := n.streamsHandler(r); h != nil { // POST /streams/...: HTTP ingest, not a bucket
			h.ServeHTTP(w, r)
			return
		}
		if n.forward(w, r) {
			return
		}
		s3h.ServeHTTP(w, r)
	})
	n.s3 = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

func (n *Node) registerStoreMetrics() {
	n.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "minicloud_corrupt_reads_total",
		Help: "Stored data found not to match its checksum when read.",
	}, func() float64 { return float64(n.objects.Corruptions()) }))
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func (n *Node) Run(ctx context.Context) error {
	n.log.Info("minicloud serving", "s3", n.s3ln.Addr().String(), "data", n.cfg.Data, "region", n.cfg.Region, "version", Version)
	n.startPprof()
	errc := make(chan error, 1)
	go func() { errc <- n.s3.Serve(n.s3ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			n.Close()
			return fmt.Errorf("s3 server: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.s3.Shutdown(sctx); err != nil {
		n.log.Warn("shutdown: requests still running were cut", "err", err)
	}
	return n.Close()
}

// Close releases everything in reverse order of opening.
func (n *Node) Close() error {
	var errs []error
	n.mqttPeers.close()
	n.mqttPeers = nil
	n.closeEdge()
	n.closeStreams()
	if n.repl != nil {
		n.repl.Close()
		n.repl = nil
	}
	n.cluster.close()
	n.cluster = nil
	if n.s3ln != nil {
		n.s3ln.Close()
	}
	if n.objects != nil {
		errs = append(errs, n.objects.Close())
		n.objects = nil
	}
	if n.meta != nil {
		errs = append(errs, n.meta.Close())
		n.meta = nil
	}
	return errors.Join(errs...)
}

// Status is what `minicloud status` shows.
type Status struct {
	Node     string               `json:"node"`
	Version  string               `json:"version"`
	Site     string               `json:"site"`
	S3       string               `json:"s3"`
	Started  time.Time            `json:"started"`
	Uptime   string               `json:"uptime"`
	Buckets  int                  `json:"buckets"`
	DataDir  string               `json:"dataDir"`
	Corrupt  uint64               `json:"corruptReads"`
	Replicas int                  `json:"replicationFactor"`
	Quorums  string               `json:"quorums"`
	Nodes    []NodeStatus         `json:"nodes"`
	Hints    map[string]int       `json:"hintsPending"`
	Repair   RepairStatus         `json:"repair"`
	Geo      *replicate.GeoStatus `json:"geo,omitempty"`  // cross-site repair, drain, tombstone purge
	Edge     *EdgeStatus          `json:"edge,omitempty"` // MQTT and streams (edgestatus.go)
	Leases   *LeaseStatus         `json:"readLeases,omitempty"`
}

// LeaseStatus is this node's read leases (internal/replicate/lease.go).
type LeaseStatus struct {
	PartitionsReadable int   `json:"partitionsReadableLocally"` // held under a lease from every other replica
	HoldersGranted     int   `json:"holdersGranted"`            // nodes holding a lease this node granted
	LocalReads         int64 `json:"localReads"`
	WriteWaits         int64 `json:"writeWaits"` // writes that waited for a lease to end
}

// NodeStatus is one member as this node sees it.
type NodeStatus struct {
	ID         string `json:"id"`
	Site       string `json:"site"`
	S3         string `json:"s3"`
	State      string `json:"state"`
	Partitions int    `json:"partitions"`
	DataBytes  int64  `json:"dataBytes"` // -1 when the node did not answer
	// Bootstrapping: the node is being refilled and does not count towards read quorums yet.
	Bootstrapping bool `json:"bootstrapping,omitempty"`
}

// RepairStatus tells how far anti-entropy and hinted handoff have got.
type RepairStatus struct {
	Rounds         int64     `json:"antiEntropyRounds"`
	PartitionsOK   int64     `json:"partitionsInSync"`
	Partitions     int64     `json:"partitionsCompared"`
	LastFullSync   time.Time `json:"lastFullSync,omitzero"`
	Pushed         int64     `json:"recordsPushed"`
	HintsDelivered int64     `json:"hintsDelivered"`
	ReadRepairs    int64     `json:"readRepairs"`
	Pulled         int64     `json:"recordsPulled"`
	// Peers: the last anti-entropy round with each live peer.
	Peers map[string]replicate.PeerSync `json:"peers,omitempty"`
	// Refilled/Held: while this node is bootstrapping, the partitions it holds and how many of
	// them are refilled.
	Refilled int `json:"partitionsRefilled,omitempty"`
	Held     int `json:"partitionsHeld,omitempty"`
}

func (n *Node) status(ctx context.Context) any {
	bs, _ := n.objects.ListBuckets(ctx)
	st := Status{
		Node: n.id, Version: Version, Site: n.cfg.Site, S3: n.s3ln.Addr().String(), Started: n.started,
		Uptime: time.Since(n.started).Round(time.Second).String(), Buckets: len(bs), DataDir: n.cfg.Data,
		Corrupt: n.objects.Corruptions(), Replicas: n.cfg.Replicas,
		Quorums: fmt.Sprintf("W=%d R=%d", n.cfg.WriteQ, n.cfg.ReadQ),
		Hints:   n.repl.PendingHints(),
		Edge:    n.edgeStatus(),
	}
	rs := &n.repl.Stats
	st.Repair = RepairStatus{
		Rounds: rs.AERounds.Load(), PartitionsOK: rs.AEPartitionsOK.Load(), Partitions: rs.AEPartitions.Load(),
		Pushed: rs.AEPushed.Load(), HintsDelivered: rs.HintsDelivered.Load(), ReadRepairs: rs.ReadRepairs.Load(),
		Pulled: n.repl.Pulled(), Peers: n.repl.PeerSyncs(),
	}
	st.Repair.Refilled, st.Repair.Held = n.repl.BootstrapProgress()
	if n.cluster != nil && n.cfg.ReadLeases {
		readable, granted := n.repl.LeaseState()
		st.Leases = &LeaseStatus{PartitionsReadable: readable, HoldersGranted: granted, LocalReads: rs.LeaseReads.Load(), WriteWaits: rs.LeaseWaits.Load()}
	}
	if t := rs.AELastSync.Load(); t > 0 {
		st.Repair.LastFullSync = time.Unix(0, t)
	}
	if n.cluster != nil {
		g := n.repl.GeoStatus()
		st.Geo = &g
	}
	if n.cluster == nil {
		st.Nodes = []NodeStatus{{ID: n.id, Site: n.cfg.Site, S3: st.S3, State: "alive", Partitions: placement.Partitions, DataBytes: n.usage.get(n.cfg.Data)}}
		return st
	}
	held := map[string]int{}
	for _, site := range []string{n.cfg.Site} {
		nodes := n.cluster.mesh.SiteNodes(site)
		for p := 0; p < placement.Partitions; p++ {
			for _, id := range placement.Replicas(p, nodes, n.cfg.Replicas) {
				held[id]++
			}
		}
	}
	sizes := n.peerUsage(ctx)
	for _, m := range n.cluster.mesh.Members() {
		state := "down"
		switch {
		case m.Decommissioned:
			state = "decommissioned"
		case m.Alive:
			state = "alive"
		}
		size, ok := sizes[m.ID]
		if !ok {
			size = -1
		}
		st.Nodes = append(st.Nodes, NodeStatus{ID: m.ID, Site: m.Site, S3: m.S3, State: state, Partitions: held[m.ID], DataBytes: size, Bootstrapping: m.Bootstrapping})
	}
	return st
}
