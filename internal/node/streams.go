package node

import (
	"encoding/json"
	"path/filepath"
	"sync"

	"github.com/minicloud/minicloud/internal/admin"
	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/stream"
)

// streams is the node's stream logs (internal/stream): opened before the broker, which
// journals every message into them before acknowledging it; their definitions ride on the mesh
// tables (cluster.go) like buckets and keys; forwarding and archives write through n.repl.
type streams struct {
	mu      sync.Mutex
	m       *stream.Manager
	journal *siteJournal // the broker's journal: m plus replication to the site (streamrepl.go)
	pending []stream.Def // definitions gossip brought before the manager opened
}

// openStreams opens the stream manager; call it after the replication layer exists and before
// openEdge.
func (n *Node) openStreams() error {
	o := stream.DefaultOptions()
	o.Dir = filepath.Join(n.cfg.Data, "streams")
	o.NodeID, o.Site, o.DB, o.Objects = n.id, n.cfg.Site, n.meta, n.repl
	o.Registerer, o.Logger = n.reg, n.log.With("component", "stream")
	if n.cluster != nil {
		o.Sites = meshView{n.cluster.mesh}.Sites
		o.Broadcast = n.broadcastStream
	}
	m, err := stream.Open(o)
	if err != nil {
		return err
	}
	n.streams.mu.Lock()
	n.streams.m = m
	pending := n.streams.pending
	n.streams.pending = nil
	n.streams.mu.Unlock()
	m.Merge(pending)
	return nil
}

// closeStreams stops forwarding and archiving and closes the logs; call it after the broker
// is closed, before the replication layer.
func (n *Node) closeStreams() {
	n.streams.mu.Lock()
	m := n.streams.m
	n.streams.m = nil
	n.streams.mu.Unlock()
	if m != nil {
		if err := m.Close(); err != nil {
			n.log.Warn("close streams", "err", err)
		}
	}
}

// streamJournal is the broker's journal (nil before openStreams).
func (n *Node) streamJournal() mqtt.Journal {
	m := n.streams.manager()
	if m == nil {
		return nil
	}
	j := &siteJournal{m: m}
	n.streams.mu.Lock()
	n.streams.journal = j
	n.streams.mu.Unlock()
	return j
}

// streamsAPI is the admin API's view of the streams (a nil interface when there are none).
func (n *Node) streamsAPI() admin.Streams {
	if m := n.streams.manager(); m != nil {
		return m
	}
	return nil
}

// broadcastStream gossips a definition this node changed to every other node.
func (n *Node) broadcastStream(d stream.Def) {
	raw, err := json.Marshal(tablesState{Streams: []stream.Def{d}})
	if err != nil {
		n.log.Error("encode stream definition", "err", err)
		return
	}
	n.cluster.mesh.Broadcast(raw, nil)
}

func (s *streams) manager() *stream.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

// table is this node's side of the stream definitions table (meshTables.State).
func (s *streams) table() []stream.Def {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return append([]stream.Def(nil), s.pending...)
	}
	return s.m.Table()
}

// merge takes definitions from another node (meshTables.Merge).
func (s *streams) merge(ds []stream.Def) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	m := s.m
	if m == nil {
		s.pending = append(s.pending, ds...)
	}
	s.mu.Unlock()
	if m != nil {
		m.Merge(ds)
	}
}
