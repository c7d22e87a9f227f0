package stream

import (
	"fmt"
	"sort"
	"time"
)

// Info describes a stream and what this node holds and ships of it.
type Info struct {
	Name     string    `json:"name"`
	Topics   []string  `json:"topics"`
	Retain   string    `json:"retain,omitempty"`   // e.g. 168h0m0s; empty: no age limit
	MaxBytes int64     `json:"maxBytes,omitempty"` // per node; 0: no size limit
	Sync     string    `json:"sync"`
	Created  time.Time `json:"created"`

	// This node's log.
	FirstOffset uint64 `json:"firstOffset"` // oldest retained
	NextOffset  uint64 `json:"nextOffset"`  // the next message gets it; the last is NextOffset-1
	LogBytes    int64  `json:"logBytes"`
	MessagesIn  uint64 `json:"messagesIn"` // appended since the node started
	BytesIn     uint64 `json:"bytesIn"`    // payload bytes appended since the node started

	Forwards []TargetInfo `json:"forwards,omitempty"`
	Archives []TargetInfo `json:"archives,omitempty"`
	Import   *TargetInfo  `json:"import,omitempty"` // this site receives the stream from others
	// Peers: what this node's log holds of each other node of the site (peersync.go); Target
	// is peer:NODE, Cursor the offset of that node's log below which every message that
	// entered by it is here, Shipped the messages caught up from it, Backlog the entries of
	// its log not checked yet when it last answered.
	Peers []TargetInfo `json:"peers,omitempty"`
}

// TargetInfo is a forwarder's, archiver's or importer's progress on this node.
type TargetInfo struct {
	Target     string `json:"target"`
	Cursor     uint64 `json:"cursor,omitempty"`  // next log offset to ship
	Backlog    uint64 `json:"backlog,omitempty"` // log entries not yet looked at (of any origin)
	Shipped    uint64 `json:"shipped"`           // messages shipped (imported) since the node started
	Objects    uint64 `json:"objects"`
	Lost       uint64 `json:"lost,omitempty"`              // dropped by retention before being shipped
	Duplicates uint64 `json:"duplicatesDropped,omitempty"` // importer, peers: already held
	Live       uint64 `json:"live,omitempty"`              // peers: messages logged from its live copies
	LastError  string `json:"lastError,omitempty"`
}

// Describe returns a stream's Info.
func (m *Manager) Describe(name string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[name]
	if s == nil {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return s.info(), nil
}

// List describes every stream.
func (m *Manager) List() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.streams))
	for _, s := range m.streams {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// info is called under Manager.mu.
func (s *openStream) info() Info {
	d := s.def
	in := Info{Name: d.Name, Topics: d.Topics, MaxBytes: d.MaxBytes, Sync: d.Sync, Created: time.Unix(0, d.Created).UTC()}
	if d.Retain > 0 {
		in.Retain = d.Retain.String()
	}
	if in.Sync == "" {
		in.Sync = "fsync"
	}
	first, end := s.log.Bounds()
	in.FirstOffset, in.NextOffset, in.LogBytes = first, end, s.log.Size()
	in.MessagesIn, in.BytesIn = s.log.appended.Load(), s.log.appendedBytes.Load()
	target := func(id string, w *worker) TargetInfo {
		t := TargetInfo{Target: id, Shipped: w.stats.shipped.Load(), Objects: w.stats.objects.Load(),
			Lost: w.stats.lost.Load(), Duplicates: w.stats.dups.Load()}
		if id != "import" {
			t.Cursor = w.stats.cursor.Load()
			if t.Cursor < end {
				t.Backlog = end - t.Cursor
			}
		}
		if e := w.stats.lastErr.Load(); e != nil {
			t.LastError = *e
		}
		return t
	}
	for _, f := range d.Forwards {
		if w := s.workers[f.ID()]; w != nil {
			in.Forwards = append(in.Forwards, target(f.ID(), w))
		} else if f.Site != "" {
			in.Forwards = append(in.Forwards, TargetInfo{Target: f.ID() + " (received here)"})
		}
	}
	for _, a := range d.Archives {
		if w := s.workers[a.ID()]; w != nil {
			in.Archives = append(in.Archives, target(a.ID(), w))
		}
	}
	if w := s.workers["import"]; w != nil {
		t := target("import", w)
		in.Import = &t
	}
	if s.ps != nil {
		in.Peers = s.ps.info()
	}
	return in
}
