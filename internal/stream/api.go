package stream

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// CreateRequest is what `minicloud stream create` asks for.
type CreateRequest struct {
	Name    string   `json:"name"`
	Topics  []string `json:"topics"`
	Retain  string   `json:"retain,omitempty"`  // e.g. 7d
	MaxSize string   `json:"maxSize,omitempty"` // e.g. 10GiB, per node
	Sync    string   `json:"sync,omitempty"`    // fsync (default) or write
}

// ForwardRequest adds (or with Stop removes) a forward target.
type ForwardRequest struct {
	Site  string             `json:"site,omitempty"`
	Cloud *object.SyncTarget `json:"cloud,omitempty"`
	Stop  bool               `json:"stop,omitempty"`
}

// ArchiveRequest adds (or with Stop removes) an archive.
type ArchiveRequest struct {
	Bucket string `json:"bucket"`
	Format string `json:"format,omitempty"` // ndjson (default) or parquet
	Every  string `json:"every,omitempty"`  // how long a part gathers messages, e.g. 5m (default 1m)
	Stop   bool   `json:"stop,omitempty"`
}

// Create defines a new stream on every node.
func (m *Manager) Create(req CreateRequest) (Info, error) {
	retain, err := ParseRetention(req.Retain)
	if err != nil {
		return Info{}, err
	}
	size, err := ParseSize(req.MaxSize)
	if err != nil {
		return Info{}, err
	}
	var topics []string
	for _, t := range req.Topics {
		for _, f := range strings.Split(t, ",") {
			if f = strings.TrimSpace(f); f != "" {
				topics = append(topics, f)
			}
		}
	}
	nd := Def{Name: req.Name, Topics: topics, Retain: retain, MaxBytes: size, Sync: req.Sync}
	if err := nd.validate(); err != nil {
		return Info{}, err
	}
	return m.change(req.Name, func(d *Def, exists bool) error {
		if exists {
			return fmt.Errorf("%w: %s (delete it first, or pick another name)", ErrExists, req.Name)
		}
		*d = nd
		d.Created = m.o.Now().UnixNano()
		return nil
	})
}

// Delete deletes a stream on every node, with its logs and cursors.
func (m *Manager) Delete(name string) error {
	_, err := m.change(name, func(d *Def, exists bool) error {
		if !exists {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		*d = Def{Name: name, Created: d.Created, Deleted: true}
		return nil
	})
	return err
}

// Forward adds a forward target to a stream, or removes it.
func (m *Manager) Forward(name string, req ForwardRequest) (Info, error) {
	f := Forward{Site: req.Site, Cloud: req.Cloud}
	switch {
	case (f.Site == "") == (f.Cloud == nil):
		return Info{}, invalid("forward to a site (--to-site SITE) or to the cloud (--to s3://BUCKET/PREFIX), one of them")
	case f.Cloud != nil && (f.Cloud.Endpoint == "" || f.Cloud.Bucket == "" || f.Cloud.AccessKey == "" || f.Cloud.SecretKey == ""):
		return Info{}, invalid("a cloud target needs an endpoint URL, a bucket and credentials")
	case f.Site != "" && !req.Stop && !m.knownSite(f.Site):
		return Info{}, invalid("site %q is not in the mesh (known: %s)", f.Site, strings.Join(m.sites(), ", "))
	}
	if f.Cloud != nil && f.Cloud.ID == "" {
		f.Cloud.ID = "stream-" + hashName(f.ID())
	}
	return m.change(name, func(d *Def, exists bool) error {
		if !exists {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		var keep []Forward
		for _, g := range d.Forwards {
			if g.ID() != f.ID() {
				keep = append(keep, g)
			}
		}
		if !req.Stop {
			keep = append(keep, f)
		}
		d.Forwards = keep
		return nil
	})
}

// Archive adds an archive to a stream, or removes it.
func (m *Manager) Archive(ctx context.Context, name string, req ArchiveRequest) (Info, error) {
	a := Archive{Bucket: req.Bucket, Format: req.Format}
	every, err := ParseRetention(req.Every)
	if err != nil {
		return Info{}, invalid("every %q: use a duration such as 1m or 15m", req.Every)
	}
	if every != 0 && every < time.Second {
		return Info{}, invalid("every %q: at least 1s", req.Every)
	}
	a.Every = every
	if a.Format == "" {
		a.Format = "ndjson"
	}
	if a.Format != "ndjson" && a.Format != "parquet" {
		return Info{}, invalid("format %q: use ndjson or parquet", a.Format)
	}
	if m.o.Objects == nil {
		return Info{}, invalid("this node has no object store to archive into")
	}
	if !req.Stop {
		if _, err := m.o.Objects.GetBucket(ctx, a.Bucket); err != nil {
			return Info{}, invalid("bucket %q: %v (create it first: minicloud bucket create %s)", a.Bucket, err, a.Bucket)
		}
	}
	return m.change(name, func(d *Def, exists bool) error {
		if !exists {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		var keep []Archive
		for _, b := range d.Archives {
			if b.Bucket != a.Bucket {
				keep = append(keep, b)
			}
		}
		if !req.Stop {
			keep = append(keep, a)
		}
		d.Archives = keep
		return nil
	})
}

// change applies fn to the current definition of name (a zero one if there is none) and makes
// the result the new definition everywhere.
func (m *Manager) change(name string, fn func(d *Def, exists bool) error) (Info, error) {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	cur, exists := m.reg.get(name)
	if !exists {
		if err := ValidName(name); err != nil {
			return Info{}, err
		}
		if old, ok := m.reg.raw(name); ok {
			cur = Def{Name: name, TS: old.TS} // a tombstone: the new stream must outrank it
		}
	}
	d := cur
	d.Forwards = append([]Forward(nil), cur.Forwards...)
	d.Archives = append([]Archive(nil), cur.Archives...)
	if err := fn(&d, exists); err != nil {
		return Info{}, err
	}
	d.TS, d.By = max(m.o.Now().UnixNano(), cur.TS+1), m.o.NodeID
	if _, err := m.reg.merge(d); err != nil {
		return Info{}, err
	}
	if m.o.Broadcast != nil {
		m.o.Broadcast(d)
	}
	if err := m.apply(); err != nil {
		return Info{}, err
	}
	if d.Deleted {
		return Info{}, nil
	}
	return m.Describe(name)
}

// Merge takes definitions from another node (gossip); the newer of each wins.
func (m *Manager) Merge(ds []Def) {
	changed := false
	for _, d := range ds {
		if ValidName(d.Name) != nil {
			continue
		}
		ok, err := m.reg.merge(d)
		if err != nil {
			m.log.Error("store a stream definition from another node", "stream", d.Name, "err", err)
		}
		changed = changed || ok
	}
	if changed {
		if err := m.apply(); err != nil {
			m.log.Error("apply stream definitions", "err", err)
		}
	}
}

// Table returns every definition, tombstones included: this node's side of the mesh table.
func (m *Manager) Table() []Def { return m.reg.table() }

func (m *Manager) sites() []string {
	if m.o.Sites == nil {
		return []string{m.o.Site}
	}
	s := m.o.Sites()
	sort.Strings(s)
	return s
}

func (m *Manager) knownSite(site string) bool {
	for _, s := range m.sites() {
		if s == site {
			return true
		}
	}
	return false
}

// Read returns up to limit messages from offset from on.
func (m *Manager) Read(name string, from uint64, limit int) ([]Message, error) {
	l, err := m.logOf(name)
	if err != nil {
		return nil, err
	}
	es, err := l.Read(from, limit, 16<<20)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(es))
	for i := range es {
		out[i] = MessageOf(&es[i])
	}
	return out, nil
}

// Seek returns the offset of the first message logged at or after t.
func (m *Manager) Seek(name string, t time.Time) (uint64, error) {
	l, err := m.logOf(name)
	if err != nil {
		return 0, err
	}
	return l.Seek(t)
}

// Wait blocks until a message at or after offset is in the log (or ctx ends).
func (m *Manager) Wait(ctx context.Context, name string, offset uint64) error {
	l, err := m.logOf(name)
	if err != nil {
		return err
	}
	return l.Wait(ctx, offset)
}

func (m *Manager) logOf(name string) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[name]
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return s.log, nil
}
