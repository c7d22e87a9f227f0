package rulesrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
)

// The object action keeps its rows in the rule's durable outbox (like a webhook's), each entry
//
//	u64 unix ns when the row was produced | u16 len, rendered key | the row's body
//
// and a sender turns them into objects: a batch is written once it holds batchSize rows or its
// oldest row is flushInterval old, and leaves the outbox only once the store acknowledged the
// PUT (W replicas fsynced). A batch's object name derives from its first entry (time, node,
// outbox sequence), so a PUT retried after an error or a crash rewrites the same object rather
// than adding a second one.

func encodeObjectEntry(at time.Time, key string, body []byte) []byte {
	b := make([]byte, 0, 10+len(key)+len(body))
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	return append(b, body...)
}

func decodeObjectEntry(v []byte) (at time.Time, key string, body []byte, err error) {
	if len(v) < 10 {
		return time.Time{}, "", nil, errors.New("short object outbox entry")
	}
	at = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	n := int(binary.BigEndian.Uint16(v[8:]))
	if len(v) < 10+n {
		return time.Time{}, "", nil, errors.New("short object outbox entry")
	}
	return at, string(v[10 : 10+n]), v[10+n:], nil
}

// objectSink puts an object action's rows in its outbox.
type objectSink struct {
	ob  *outbox
	st  *actionState
	now func() time.Time
}

func (s *objectSink) deliver(ps []rules.Payload) {
	now := s.now()
	bodies := make([][]byte, 0, len(ps))
	for _, p := range ps {
		if len(p.Key) > 900 {
			s.st.fail(fmt.Errorf("object key %.40q... is longer than 900 bytes", p.Key))
			s.st.dropped.Add(1)
			continue
		}
		bodies = append(bodies, encodeObjectEntry(now, p.Key, p.Body))
	}
	if len(bodies) == 0 {
		return
	}
	if err := s.ob.put(bodies); err != nil {
		s.st.fail(fmt.Errorf("outbox: %w", err))
		s.st.dropped.Add(int64(len(bodies)))
		return
	}
	s.st.pending.Add(int64(len(bodies)))
}

// objectSender writes an object action's outbox to its bucket in batches.
type objectSender struct {
	rt   *Runtime
	rule string
	a    *rules.ObjectAction
	ob   *outbox
	st   *actionState
}

func (rt *Runtime) newObjectSender(rule string, a *rules.ObjectAction, ob *outbox, st *actionState) *objectSender {
	return &objectSender{rt: rt, rule: rule, a: a, ob: ob, st: st}
}

func (s *objectSender) run(ctx context.Context) {
	backoff := s.rt.o.RetryMin
	for {
		batch, err := s.ob.peek(s.a.BatchSize)
		if err != nil {
			s.st.fail(fmt.Errorf("outbox: %w", err))
		}
		var wait <-chan time.Time
		switch {
		case err != nil:
			wait = time.After(backoff)
		case len(batch) == 0:
		case len(batch) < s.a.BatchSize:
			at, _, _, derr := decodeObjectEntry(batch[0].body)
			if age := s.rt.o.Clock.Now().Sub(at); derr == nil && age < s.a.Flush {
				wait = time.After(s.a.Flush - age)
				break
			}
			fallthrough
		default:
			if err := s.flush(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.st.fail(err)
				s.rt.log.Debug("object action failed; will retry", "rule", s.rule, "bucket", s.a.Bucket, "err", err, "in", backoff)
				wait = time.After(backoff)
				backoff = min(2*backoff, s.rt.o.RetryMax)
				break
			}
			backoff = s.rt.o.RetryMin
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.ob.notify:
		case <-wait:
		}
	}
}

// flush writes the batch as one object per rendered key, then removes it from the outbox.
func (s *objectSender) flush(ctx context.Context, batch []outboxEntry) error {
	type group struct {
		first time.Time
		seq   uint64
		body  bytes.Buffer
		n     int
	}
	var order []string
	groups := map[string]*group{}
	for _, e := range batch {
		at, key, body, err := decodeObjectEntry(e.body)
		if err != nil {
			continue // not ours to fix: dropped with the batch below
		}
		g := groups[key]
		if g == nil {
			g = &group{first: at, seq: binary.BigEndian.Uint64(e.key[len(e.key)-8:])}
			groups[key] = g
			order = append(order, key)
		}
		switch {
		case s.a.Format == "json" && g.n == 0:
			g.body.WriteByte('[')
		case s.a.Format == "json":
			g.body.WriteByte(',')
		}
		g.body.Write(bytes.TrimRight(body, "\n"))
		if s.a.Format != "json" {
			g.body.WriteByte('\n')
		}
		g.n++
	}
	for _, key := range order {
		g := groups[key]
		ctype := "application/x-ndjson"
		if s.a.Format == "json" {
			g.body.WriteByte(']')
			ctype = "application/json"
		}
		name := s.objectName(key, g.first, g.seq)
		if err := s.rt.o.Objects.PutObject(ctx, s.a.Bucket, name, g.body.Bytes(), ctype); err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", s.a.Bucket, name, err)
		}
	}
	b := s.ob.db.NewBatch()
	for _, e := range batch {
		b.Delete(e.key)
	}
	err := b.Commit(false) // unsynced: after a crash the batch is rewritten under the same names
	b.Close()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	s.st.pending.Add(-int64(len(batch)))
	s.st.sent.Add(int64(len(batch)))
	return nil
}

// objectName is KEY + time of the batch's first row + node + outbox sequence + extension: unique
// per batch, and the same when the batch is written again.
func (s *objectSender) objectName(key string, first time.Time, seq uint64) string {
	if key == "" {
		key = s.rule + "/"
	}
	node := s.rt.o.NodeID
	if node == "" {
		node = "node"
	}
	ext := ".ndjson"
	if s.a.Format == "json" {
		ext = ".json"
	}
	return fmt.Sprintf("%s%s-%s-%08x%s", key, first.UTC().Format("20060102T150405.000Z"), strings.ReplaceAll(node, "/", "_"), seq, ext)
}
