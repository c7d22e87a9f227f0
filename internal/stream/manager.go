package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/mqtt"
)

// Options configure a Manager.
type Options struct {
	Dir    string // each stream's log lives in Dir/NAME
	NodeID string
	Site   string
	DB     *metastore.DB // definitions and cursors
	// Objects is the node's object layer (replicated); nil logs and reads streams but neither
	// forwards nor archives them.
	Objects Objects
	// Sites lists the sites of the mesh (nil: this node runs alone).
	Sites func() []string
	// Broadcast tells every other node of a definition this node changed (nil: alone). Other
	// nodes' changes come in through Merge.
	Broadcast  func(Def)
	Registerer prometheus.Registerer // nil registers no metrics
	Logger     *slog.Logger
	Now        func() time.Time

	ShipEvery      time.Duration // forwarders ship at most this often; importers poll this often
	BatchMessages  int           // most messages in one forwarded batch object
	BatchBytes     int           // most payload bytes in one forwarded batch object
	ArchiveEvery   time.Duration // an archived message waits at most about this long for its part
	ArchiveBytes   int           // most payload bytes in one archive part
	SegmentBytes   int64         // segment size of the logs (0: DefaultLogOptions)
	RetryBackoffAt time.Duration // longest wait between retries of a failing shipment
}

// DefaultOptions returns the manager's defaults (Dir, NodeID, Site and DB are the caller's).
func DefaultOptions() Options {
	return Options{
		Now:            time.Now,
		ShipEvery:      time.Second,      // one object a second per node and target under steady load
		BatchMessages:  10000,            // a batch object of at most ~1-10 MB at typical sizes
		BatchBytes:     8 << 20,          // chunked by the object layer; cheap to resend after a fault
		ArchiveEvery:   time.Minute,      // parts of a minute's messages at least (unless large)
		ArchiveBytes:   64 << 20,         // a Parquet part big enough for analytics engines
		RetryBackoffAt: 30 * time.Second, // a site or the cloud down for long is retried twice a minute
	}
}

// Manager runs the streams of a node: it keeps the definitions, opens a log per stream, puts
// every published message that matches into the logs (as the broker's Journal), and runs the
// forwarders, importers and archivers.
type Manager struct {
	o   Options
	log *slog.Logger
	reg *registry

	changeMu sync.Mutex // serialises local definition changes (read, modify, write)
	mu       sync.Mutex // guards streams and applying definitions
	streams  map[string]*openStream
	router   atomic.Pointer[router]
	repub    atomic.Pointer[Republisher]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// openStream is a stream whose log is open on this node.
type openStream struct {
	name    string // fixed; def may change (under Manager.mu)
	def     Def
	log     *Log
	ps      *peerSync // what the log holds of the site's other nodes
	workers map[string]*worker
}

var _ mqtt.Journal = (*Manager)(nil)

// Open loads the definitions, opens the logs of the streams defined and starts their workers.
func Open(o Options) (*Manager, error) {
	def := DefaultOptions()
	if o.Now == nil {
		o.Now = def.Now
	}
	if o.ShipEvery <= 0 {
		o.ShipEvery = def.ShipEvery
	}
	if o.BatchMessages <= 0 {
		o.BatchMessages = def.BatchMessages
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = def.BatchBytes
	}
	if o.ArchiveEvery <= 0 {
		o.ArchiveEvery = def.ArchiveEvery
	}
	if o.ArchiveBytes <= 0 {
		o.ArchiveBytes = def.ArchiveBytes
	}
	if o.RetryBackoffAt <= 0 {
		o.RetryBackoffAt = def.RetryBackoffAt
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DB == nil || o.Dir == "" || o.NodeID == "" {
		return nil, errors.New("stream: Options.DB, Dir and NodeID are required")
	}
	reg, err := loadRegistry(o.DB)
	if err != nil {
		return nil, err
	}
	m := &Manager{o: o, log: o.Logger, reg: reg, streams: map[string]*openStream{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.router.Store(&router{})
	if err := m.apply(); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.registerMetrics(o.Registerer); err != nil {
		m.Close()
		return nil, err
	}
	m.wg.Add(1)
	go m.runPeerSyncSaver()
	return m, nil
}

// Republisher publishes messages imported from other sites on this node's broker, so that
// the site's MQTT subscribers (and rules) get them as they get the site's own. It must deliver
// them to this node's subscribers only: neither journal them again (they are in the log
// already) nor hand them to the other nodes of the site (each node of the site imports, and
// republishes, on its own) nor to other sites (only Local entries are forwarded), so a message
// crosses each site once whatever the mesh's shape.
type Republisher interface {
	DeliverImported(topic string, payload []byte) error
}

// SetRepublisher sets (nil: removes) where imported messages are republished; the broker is
// built after the manager, which journals into it.
func (m *Manager) SetRepublisher(r Republisher) {
	if r == nil {
		m.repub.Store(nil)
		return
	}
	m.repub.Store(&r)
}

// Close stops every worker and closes the logs (fsyncing what they hold).
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.router.Store(&router{})
	m.mu.Unlock()
	if m.o.Registerer != nil {
		m.o.Registerer.Unregister((*collector)(m))
	}
	m.cancel()
	m.wg.Wait()
	var errs []error
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, s := range m.streams {
		st, _ := s.ps.snapshot()
		errs = append(errs, s.log.Close())
		if errs[len(errs)-1] == nil {
			errs = append(errs, saveState(m.o.DB, s.ps.key, st)) // the log is fsynced up to st's end
		}
		delete(m.streams, name)
	}
	return errors.Join(errs...)
}

// Record is the broker's Journal: it appends a published message to every stream whose
// filters match its topic. It returns nil when no stream logs the topic, the group commit of
// its append when one does (the common case: nothing allocated beyond the record), or a
// multiPending when several do or an append failed.
func (m *Manager) Record(msg mqtt.JournalMessage) mqtt.Pending {
	return m.record(msg, nil)
}

// RecordForPeers is Record that also returns the message as each stream logged it, for the
// site's other nodes to log under the same id (its Payload is msg.Payload: copy it to keep it).
func (m *Manager) RecordForPeers(msg mqtt.JournalMessage) (mqtt.Pending, []PeerEntry) {
	var out []PeerEntry
	p := m.record(msg, &out)
	return p, out
}

func (m *Manager) record(msg mqtt.JournalMessage, peers *[]PeerEntry) mqtt.Pending {
	kind := Local
	if msg.FromPeer {
		kind = Peer
	}
	var first *Commit
	var more *multiPending
	m.router.Load().match(msg.Topic, func(s *openStream) {
		es := [1]Entry{{Kind: kind, Topic: msg.Topic, Payload: msg.Payload}}
		_, c, err := s.log.Append(es[:]...)
		if errors.Is(err, ErrClosed) {
			return // the stream is being deleted (or the node is closing)
		}
		if err == nil && peers != nil {
			e := &es[0]
			*peers = append(*peers, PeerEntry{Stream: s.name, Seq: e.Seq, From: e.From, Opened: uint64(s.log.opened), Base: s.log.base,
				Time: e.Time, Topic: e.Topic, Payload: msg.Payload})
		}
		if err == nil && first == nil && more == nil {
			first = c
			return
		}
		if more == nil {
			more = &multiPending{}
			if first != nil {
				more.commits = append(more.commits, first)
			}
		}
		if err != nil {
			if more.err == nil {
				more.err = fmt.Errorf("stream %s: %w", s.name, err)
			}
			return
		}
		more.commits = append(more.commits, c)
	})
	switch {
	case more != nil:
		return more
	case first != nil:
		return first
	}
	return nil // not a nil *Commit: the broker tests for a nil Pending
}

// multiPending is a message appended to several streams (or one whose append failed).
type multiPending struct {
	commits []*Commit
	err     error // the first append that failed
}

func (p *multiPending) Wait() error {
	err := p.err
	for _, c := range p.commits {
		if werr := c.Wait(); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func (p *multiPending) Done() bool {
	for _, c := range p.commits {
		if !c.Done() {
			return false
		}
	}
	return true
}

// apply brings the open streams and their workers in line with the definitions.
func (m *Manager) apply() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	var errs []error
	for _, d := range m.reg.table() {
		s := m.streams[d.Name]
		if s != nil && (d.Deleted || s.def.Created != d.Created) {
			m.drop(s) // deleted, or deleted and created anew elsewhere
			s = nil
		}
		if d.Deleted {
			if err := m.purge(d.Name); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if s == nil {
			var err error
			if s, err = m.openStream(d); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		s.def = d
		s.log.SetRetention(d.Retain, d.MaxBytes)
		m.startWorkers(s)
	}
	m.rebuildRouter()
	return errors.Join(errs...)
}

func (m *Manager) openStream(d Def) (*openStream, error) {
	if err := m.purgeIfStale(d); err != nil {
		return nil, err
	}
	o := DefaultLogOptions()
	o.Dir, o.Origin, o.Now, o.Logger = m.logDir(d.Name), m.o.NodeID, m.o.Now, m.log
	o.Retain, o.MaxBytes = d.Retain, d.MaxBytes
	if m.o.SegmentBytes > 0 {
		o.SegmentBytes = m.o.SegmentBytes
	}
	if d.MaxBytes > 0 && o.SegmentBytes > d.MaxBytes/8 {
		o.SegmentBytes = d.MaxBytes / 8 // retention in steps of an eighth of the limit
	}
	if d.Sync == "write" {
		o.Sync = SyncWrite
	}
	l, err := OpenLog(o)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", d.Name, err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "created"), fmt.Appendf(nil, "%d\n", d.Created), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("open stream %s: %w", d.Name, err)
	}
	ps, err := openPeerSync(m.o.DB, d.Name, d.Created, m.o.NodeID, l)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open stream %s: %w", d.Name, err)
	}
	s := &openStream{name: d.Name, def: d, log: l, ps: ps, workers: map[string]*worker{}}
	m.streams[d.Name] = s
	m.log.Info("stream open", "stream", d.Name, "topics", d.Topics, "next_offset", l.Next())
	return s, nil
}

func (m *Manager) logDir(name string) string { return filepath.Join(m.o.Dir, name) }

// purgeIfStale removes a log left by an earlier stream of the same name (deleted while this
// node was down, then created again).
func (m *Manager) purgeIfStale(d Def) error {
	raw, err := os.ReadFile(filepath.Join(m.logDir(d.Name), "created"))
	if err != nil {
		return nil // new, or never opened
	}
	var created int64
	if _, err := fmt.Sscan(string(raw), &created); err == nil && created == d.Created {
		return nil
	}
	return m.purge(d.Name)
}

// drop stops a stream's workers and closes its log.
func (m *Manager) drop(s *openStream) {
	for id, w := range s.workers {
		w.stop()
		delete(s.workers, id)
	}
	if err := s.log.Close(); err != nil {
		m.log.Warn("close stream log", "stream", s.def.Name, "err", err)
	}
	delete(m.streams, s.def.Name)
}

// purge deletes what this node holds of a deleted stream: its log and its cursors.
func (m *Manager) purge(name string) error {
	dir := m.logDir(name)
	if _, err := os.Stat(dir); err == nil {
		m.log.Info("stream deleted: removing its log", "stream", name)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove log of stream %s: %w", name, err)
		}
	}
	return deleteStates(m.o.DB, name)
}

func (m *Manager) rebuildRouter() {
	r := &router{}
	for _, s := range m.streams {
		r.routes = append(r.routes, route{s: s, filters: s.def.Topics})
	}
	m.router.Store(r)
}
