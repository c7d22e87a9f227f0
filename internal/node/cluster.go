package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/mesh"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/rulesrt"
	"github.com/minicloud/minicloud/internal/stream"
)

// cluster is the node's part of the mesh: gossip membership, the data RPC server and client.
type cluster struct {
	mesh   *mesh.Mesh
	rpc    *replicate.Server
	client *replicate.Client
}

// meshSecret returns the mesh secret: from the environment, from the data dir, or, for the first
// node of a new mesh, a new one that is stored and shown once with how to add nodes.
func meshSecret(dataDir, fromEnv string, joining bool, meshAddr string, out io.Writer) (string, error) {
	path := filepath.Join(dataDir, "mesh-secret")
	if fromEnv != "" {
		return fromEnv, nil
	}
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if joining {
		return "", errors.New("this node needs the mesh secret to join: set MINICLOUD_MESH_SECRET to the value the first node printed (it is in that node's DATA/mesh-secret)")
	}
	secret := randomB64(40)
	if err := writeFileSynced(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(out, `
minicloud created a new mesh; its secret authenticates and encrypts all node-to-node traffic.
Add nodes to this site with:
  MINICLOUD_MESH_SECRET=%s minicloud serve --mesh HOST:PORT --join %s
The secret is kept in %s (mode 0600).

`, secret, meshAddr, path)
	return secret, nil
}

// startCluster joins the mesh and serves data RPC for the replicas on this node. fresh: the data
// dir was empty at start; joining a site so, the node bootstraps (replicate/bootstrap.go).
func (n *Node) startCluster(objects *object.Store, out io.Writer, fresh bool) error {
	cfg := n.cfg
	secret, err := meshSecret(cfg.Data, cfg.MeshSecret, cfg.Join != "", cfg.Mesh, out)
	if err != nil {
		return err
	}
	serverTLS, clientTLS, err := mesh.TLSConfigs(secret)
	if err != nil {
		return err
	}
	rpcAddr := cfg.RPC
	if rpcAddr == "" {
		host, _, _ := net.SplitHostPort(cfg.Mesh)
		rpcAddr = net.JoinHostPort(host, "0")
	}
	srv, err := replicate.NewServer(rpcAddr, serverTLS, objects)
	if err != nil {
		return err
	}
	n.cluster = &cluster{rpc: srv}
	srv.Mux.HandleFunc("GET /rpc/usage", n.serveUsage)
	go srv.Serve()
	var join []string
	for _, j := range strings.Split(cfg.Join, ",") {
		if j = strings.TrimSpace(j); j != "" {
			join = append(join, j)
		}
	}
	// The mesh tables. To replicate another table, add one line here (its name; the store's
	// records, tombstones included; a record's key; the store's merge, which keeps the newer
	// version of each record) and have the store call tables.publish(name, record) after a
	// local change (as OnBucketChange below), or mesh.Broadcast as rules.go does.
	tables := &meshTables{log: n.log}
	tables.add("buckets", lww(objects.BucketTable, func(b object.Bucket) string { return b.Name }, each(func(b object.Bucket) error { _, err := objects.MergeBucket(b); return err })))
	tables.add("keys", lww(n.keys.Table, func(k iam.Key) string { return k.AccessKey }, each(n.keys.Merge)))
	tables.add("streams", lww(n.streams.table, func(d stream.Def) string { return d.Name }, batch(n.streams.merge)))
	tables.add("rules", lww(n.ruleTable.table, func(r rulesrt.TableRow) string { return r.Kind + "/" + r.Name }, batch(n.ruleTable.merge)))
	booting := fresh && len(join) > 0 || objects.Refilling()
	self := mesh.Member{ID: n.id, Site: cfg.Site, Mesh: cfg.Mesh, RPC: advertise(srv.Addr(), cfg.Mesh), S3: advertise(n.s3ln.Addr().String(), cfg.Mesh), Bootstrapping: booting}
	m, err := mesh.Start(mesh.Options{
		Self: self, Join: join, Secret: secret, DataDir: cfg.Data, Tables: tables.tables,
		Logger: n.log, OnChange: n.membershipChanged,
	})
	if err != nil {
		srv.Close()
		return err
	}
	n.cluster.mesh = m
	tables.mesh = m
	objects.OnBucketChange = func(b object.Bucket) { tables.publish("buckets", b) }
	n.keys.OnChange = func(k iam.Key) { tables.publish("keys", k) }
	n.cluster.client = replicate.NewClient(clientTLS)
	n.repl = replicate.New(replicate.Options{
		Local: objects, Cluster: meshView{m}, Client: n.cluster.client, Site: cfg.Site,
		RF: cfg.Replicas, W: cfg.WriteQ, R: cfg.ReadQ, ReadLeases: cfg.ReadLeases, Logger: n.log,
	})
	n.repl.ServeLeases(srv)
	srv.Apply = n.repl.ApplyFromSite
	n.repl.SetGeoOptions(replicate.GeoOptions{SyncEvery: cfg.GeoSyncEvery, TombstoneGrace: cfg.TombstoneGrace})
	n.repl.RegisterRoutes(srv.Mux)
	n.repl.RegisterSiteRoutes(srv.Mux)
	if fresh && len(join) > 0 {
		n.repl.Joining() // no member list of its own yet: take the site's layout from a peer
	}
	if booting {
		if err := n.repl.Bootstrap(m.SetBootstrapping); err != nil {
			return err
		}
	}
	return nil
}

// membershipChanged reacts to a member joining, leaving or coming back: catch up now.
func (n *Node) membershipChanged() {
	if n.repl != nil {
		n.repl.Kick()
	}
}

func (c *cluster) close() {
	if c == nil {
		return
	}
	if c.mesh != nil {
		c.mesh.Close()
	}
	if c.rpc != nil {
		c.rpc.Close()
	}
	if c.client != nil {
		c.client.Close()
	}
}

// meshView adapts the mesh to what replication needs.
type meshView struct{ m *mesh.Mesh }

func (v meshView) Self() string                   { return v.m.Self() }
func (v meshView) Alive(id string) bool           { return v.m.Alive(id) }
func (v meshView) SiteNodes(site string) []string { return v.m.SiteNodes(site) }
func (v meshView) Sites() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range v.m.Members() {
		if !seen[m.Site] && !m.Decommissioned {
			seen[m.Site] = true
			out = append(out, m.Site)
		}
	}
	return out
}

func (v meshView) SiteAlive(site string) []string {
	var out []string
	for _, m := range v.m.Members() {
		if m.Site == site && m.Alive && !m.Decommissioned {
			out = append(out, m.ID)
		}
	}
	return out
}

func (v meshView) Bootstrapping(id string) bool {
	mem, _ := v.m.Member(id)
	return mem.Bootstrapping
}

func (v meshView) RPCAddr(id string) string {
	mem, _ := v.m.Member(id)
	return mem.RPC
}

// meshTables are the tables this node replicates over the mesh: small last-writer-wins maps
// (with tombstones) that any node may change, even cut off from the others, and that merge when
// nodes meet. The mesh spreads changes by gossip and repairs what gossip missed by comparing
// digests (internal/mesh/tables.go); each store keeps its own rule for which version wins.
type meshTables struct {
	log    *slog.Logger
	mesh   *mesh.Mesh // set once the mesh runs
	tables map[string]mesh.Table
}

func (t *meshTables) add(name string, tab interface {
	mesh.Table
	setLogger(*slog.Logger)
}) {
	if t.tables == nil {
		t.tables = map[string]mesh.Table{}
	}
	tab.setLogger(t.log.With("table", name))
	t.tables[name] = tab
}

// publish spreads a record that this node changed (and has stored) to every node.
func (t *meshTables) publish(name string, record any) {
	if t.mesh == nil {
		return
	}
	b, err := json.Marshal(record)
	if err != nil {
		t.log.Error("encode a mesh table record", "table", name, "err", err)
		return
	}
	t.mesh.Publish(name, b)
}

// tablesState is the form mesh.Broadcast takes: table name to changed records.
type tablesState struct {
	Buckets []object.Bucket    `json:"buckets,omitempty"`
	Keys    []iam.Key          `json:"keys,omitempty"`
	Streams []stream.Def       `json:"streams,omitempty"` // streams.go
	Rules   []rulesrt.TableRow `json:"rules,omitempty"`   // rules.go
}

// lww adapts a store's last-writer-wins table to the mesh: all lists every record (tombstones
// included), key names one, merge applies records from other nodes, each only if it is newer.
func lww[T any](all func() []T, key func(T) string, merge func([]T) error) *lwwTable[T] {
	return &lwwTable[T]{all: all, key: key, merge: merge, log: slog.New(slog.DiscardHandler)}
}

// each makes a merge of records from a merge of one record.
func each[T any](merge func(T) error) func([]T) error {
	return func(rs []T) error {
		var errs []error
		for _, r := range rs {
			errs = append(errs, merge(r))
		}
		return errors.Join(errs...)
	}
}

// batch makes a merge that reports no error from one that logs its own.
func batch[T any](merge func([]T)) func([]T) error {
	return func(rs []T) error { merge(rs); return nil }
}

type lwwTable[T any] struct {
	all   func() []T
	key   func(T) string
	merge func([]T) error
	log   *slog.Logger
}

func (t *lwwTable[T]) setLogger(l *slog.Logger) { t.log = l }

func (t *lwwTable[T]) Entries() map[string][]byte {
	rs := t.all()
	out := make(map[string][]byte, len(rs))
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			t.log.Error("encode a mesh table record", "err", err)
			continue
		}
		out[t.key(r)] = b
	}
	return out
}

func (t *lwwTable[T]) Key(entry []byte) string {
	var r T
	if json.Unmarshal(entry, &r) != nil {
		return ""
	}
	return t.key(r)
}

func (t *lwwTable[T]) Merge(entries [][]byte) {
	rs := make([]T, 0, len(entries))
	for _, e := range entries {
		var r T
		if err := json.Unmarshal(e, &r); err != nil {
			t.log.Warn("a mesh table record from another node does not decode", "err", err)
			continue
		}
		rs = append(rs, r)
	}
	if err := t.merge(rs); err != nil {
		t.log.Error("merge mesh table records", "err", err)
	}
}

// decommission takes a node out of the layout: its partitions move to the remaining nodes, whose
// anti-entropy copies the data from the replicas that still hold it.
func (n *Node) decommission(id string) error {
	if n.cluster == nil {
		return errors.New("this node runs alone (no --mesh)")
	}
	if err := n.cluster.mesh.Decommission(id); err != nil {
		return err
	}
	n.repl.Kick()
	return nil
}

// advertise turns a listen address bound to all interfaces into one peers can dial, using the
// --mesh host (the address other nodes already reach this node at).
func advertise(addr, meshAddr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		mh, _, _ := net.SplitHostPort(meshAddr)
		return net.JoinHostPort(mh, port)
	}
	return addr
}
