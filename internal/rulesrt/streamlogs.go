package rulesrt

import (
	"context"
	"errors"
	"time"

	"github.com/minicloud/minicloud/internal/stream"
)

// StreamLogs is Logs over the node's stream logs (internal/stream): this node's own log is read
// in process, the other nodes' of the site through Remote (the node's RPC).
type StreamLogs struct {
	Manager func() *stream.Manager // nil result: the logs are closed
	Self    string
	// Site lists the ids of the nodes of this site, Self included (nil: Self alone).
	Site func() []string
	// Remote reads or seeks another node's log (ReadOrigin and SeekOrigin there); nil: none.
	Remote interface {
		Read(ctx context.Context, node, stream string, from uint64, max int, wait time.Duration) ([]LogEntry, uint64, error)
		Seek(ctx context.Context, node, stream string, t time.Time) (uint64, error)
	}
}

var errLogsClosed = errors.New("stream logs are closed")

// Covering implements Logs.
func (l *StreamLogs) Covering(filter string) string {
	m := l.Manager()
	if m == nil {
		return ""
	}
	for _, d := range m.Table() {
		if d.Deleted {
			continue
		}
		for _, t := range d.Topics {
			if FilterCovers(t, filter) {
				return d.Name
			}
		}
	}
	return ""
}

// Origins implements Logs.
func (l *StreamLogs) Origins(string) []string {
	if l.Site == nil || l.Remote == nil {
		return []string{l.Self}
	}
	return l.Site()
}

// Seek implements Logs.
func (l *StreamLogs) Seek(ctx context.Context, name, origin string, t time.Time) (uint64, error) {
	if origin != l.Self {
		return l.Remote.Seek(ctx, origin, name, t)
	}
	return SeekOrigin(l.Manager(), name, t)
}

// Read implements Logs.
func (l *StreamLogs) Read(ctx context.Context, name, origin string, from uint64, max int, wait time.Duration) ([]LogEntry, uint64, error) {
	if origin != l.Self {
		return l.Remote.Read(ctx, origin, name, from, max, wait)
	}
	return ReadOrigin(ctx, l.Manager(), name, from, max, wait)
}

// SeekOrigin is Logs.Seek on this node's own log.
func SeekOrigin(m *stream.Manager, name string, t time.Time) (uint64, error) {
	if m == nil {
		return 0, errLogsClosed
	}
	return m.Seek(name, t)
}

// ReadOrigin is Logs.Read on this node's own log: the entries that entered the site through this
// node (Local, and Imported from other sites), not the copies of other nodes' (Peer).
func ReadOrigin(ctx context.Context, m *stream.Manager, name string, from uint64, max int, wait time.Duration) ([]LogEntry, uint64, error) {
	if m == nil {
		return nil, from, errLogsClosed
	}
	es, err := m.ReadEntries(name, from, max, 4<<20)
	if err == nil && len(es) == 0 && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err = m.Wait(wctx, name, from)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, from, nil
		}
		if err == nil {
			es, err = m.ReadEntries(name, from, max, 4<<20)
		}
	}
	if err != nil {
		return nil, from, err
	}
	next := from
	out := make([]LogEntry, 0, len(es))
	for i := range es {
		e := &es[i]
		next = e.Offset + 1
		if e.Kind != stream.Peer {
			out = append(out, LogEntry{Offset: e.Offset, Topic: e.Topic, Payload: e.Payload})
		}
	}
	return out, next, nil
}
