package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// importState is what a node has imported into a stream from the batches of other sites.
// Saved after each batch is durable in the log. If the node dies in between, the batch is read
// again; the entries it already appended are then found by scanning the log from LogNext at
// start-up (recoverImports) and dropped by id, so none is logged twice.
type importState struct {
	Epoch   int64                   `json:"epoch"`
	LogNext uint64                  `json:"logNext"` // the log's next offset when saved
	Origins map[string]*originState `json:"origins"`
}

type originState struct {
	Batch   uint64 `json:"batch"`   // next batch object to read
	NextSeq uint64 `json:"nextSeq"` // entries with a lower sequence are already imported
}

// runImporter reads the batches other sites forward to this one into the log until ctx ends.
func (m *Manager) runImporter(ctx context.Context, w *worker, l *Log, d Def) {
	log := m.log.With("stream", d.Name, "worker", "import")
	key := stateKey(subImport, d.Name, "")
	var st importState
	if _, err := loadState(m.o.DB, key, &st); err != nil {
		log.Error("stream importer: load state", "err", err)
	}
	if st.Epoch != d.Created || st.Origins == nil {
		st = importState{Epoch: d.Created, Origins: map[string]*originState{}}
	}
	for ctx.Err() == nil {
		err := recoverImports(l, &st)
		if err == nil {
			break
		}
		w.stats.fail(err)
		log.Error("stream importer: scan the log for imported messages; will retry", "err", err)
		sleep(ctx, m.o.RetryBackoffAt)
	}
	delay := time.Duration(0)
	for ctx.Err() == nil {
		n, err := m.importRound(ctx, w, l, d, &st, key)
		if err != nil && ctx.Err() == nil {
			w.stats.fail(err)
			log.Warn("stream importer: will retry", "err", err)
			delay = backoff(delay, m.o.RetryBackoffAt)
			sleep(ctx, delay)
			continue
		}
		delay = 0
		if err == nil {
			w.stats.ok()
		}
		if n == 0 {
			sleep(ctx, m.o.ShipEvery)
		}
	}
}

// recoverImports raises each origin's NextSeq past the Imported entries appended after the
// state was last saved.
func recoverImports(l *Log, st *importState) error {
	from := st.LogNext
	for {
		es, err := l.Read(from, 10000, 16<<20)
		if err != nil || len(es) == 0 {
			return err
		}
		for _, e := range es {
			if e.Kind != Imported {
				continue
			}
			o := st.Origins[e.Origin]
			if o == nil {
				o = &originState{} // batch 0 is read again; what it holds is dropped by id
				st.Origins[e.Origin] = o
			}
			if e.Seq >= o.NextSeq {
				o.NextSeq = e.Seq + 1
			}
		}
		from = es[len(es)-1].Offset + 1
	}
}

// importRound reads every batch available from every other site once; it returns the number
// of batches applied.
func (m *Manager) importRound(ctx context.Context, w *worker, l *Log, d Def, st *importState, key []byte) (int, error) {
	applied := 0
	var sites []string
	if m.o.Sites != nil {
		sites = m.o.Sites()
	}
	sort.Strings(sites)
	prefix := fmt.Sprintf("%s/%d/", d.Name, d.Created)
	var errs []error
	for _, src := range sites {
		if src == m.o.Site {
			continue
		}
		bucket := ForwardBucket(src, m.o.Site)
		if _, err := m.o.Objects.GetBucket(ctx, bucket); err != nil {
			continue // that site has forwarded nothing yet
		}
		origins, err := m.listOrigins(ctx, bucket, prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, origin := range origins {
			n, err := m.importOrigin(ctx, w, l, bucket, prefix, origin, st, key)
			applied += n
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return applied, errors.Join(errs...)
}

// listOrigins lists the nodes that forwarded batches of the stream into bucket.
func (m *Manager) listOrigins(ctx context.Context, bucket, prefix string) ([]string, error) {
	var out []string
	opts := object.ListOptions{Prefix: prefix, Delimiter: "/", MaxKeys: 1000}
	for {
		res, err := m.o.Objects.ListObjects(ctx, bucket, opts)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, p := range res.CommonPrefixes {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/"))
		}
		if !res.IsTruncated {
			return out, nil
		}
		opts.Marker = res.NextMarker
	}
}

// importOrigin applies one origin's batches in number order, from the next expected one for as
// long as they are there.
func (m *Manager) importOrigin(ctx context.Context, w *worker, l *Log, bucket, prefix, origin string, st *importState, key []byte) (int, error) {
	o := st.Origins[origin]
	if o == nil {
		o = &originState{}
		st.Origins[origin] = o
	}
	applied := 0
	for ctx.Err() == nil {
		k := batchKey(prefix+origin+"/", o.Batch)
		_, rd, err := m.o.Objects.GetObject(ctx, bucket, k, "", 0, -1)
		if errors.Is(err, object.ErrNoSuchKey) {
			return applied, nil // not written yet, or not shipped here yet
		}
		if err != nil {
			return applied, fmt.Errorf("get %s/%s: %w", bucket, k, err)
		}
		msgs, err := DecodeNDJSON(rd)
		rd.Close()
		if err != nil {
			return applied, fmt.Errorf("batch %s/%s: %w", bucket, k, err)
		}
		if err := m.applyBatch(w, l, origin, msgs, o); err != nil {
			return applied, err
		}
		o.Batch++
		st.LogNext = l.Next()
		if err := saveState(m.o.DB, key, st); err != nil {
			return applied, err
		}
		w.stats.objects.Add(1)
		applied++
	}
	return applied, ctx.Err()
}

// applyBatch appends a batch's messages that are new (by id) and waits until they are durable.
func (m *Manager) applyBatch(w *worker, l *Log, origin string, msgs []Message, o *originState) error {
	es, next := make([]Entry, 0, len(msgs)), o.NextSeq
	for _, msg := range msgs {
		from, seq, err := splitID(msg.ID)
		if err != nil {
			return err
		}
		if from != origin {
			return fmt.Errorf("message %s in a batch of origin %s", msg.ID, origin)
		}
		if seq < next {
			w.stats.dups.Add(1)
			continue
		}
		es = append(es, Entry{Kind: Imported, Origin: origin, Seq: seq, Time: msg.Time, Topic: msg.Topic, Payload: msg.Bytes()})
		next = seq + 1
	}
	if len(es) == 0 {
		return nil
	}
	_, c, err := l.Append(es...)
	if err == nil {
		err = c.Wait()
	}
	if err != nil {
		return fmt.Errorf("append imported messages: %w", err)
	}
	o.NextSeq = next
	w.stats.shipped.Add(uint64(len(es)))
	m.republish(es)
	return nil
}

// republish hands messages just imported (and durable) to the broker. A crash between the two
// loses the republication of that batch, never the logged copy: live delivery is at most once,
// the log is the record.
func (m *Manager) republish(es []Entry) {
	r := m.repub.Load()
	if r == nil {
		return
	}
	for i := range es {
		if err := (*r).DeliverImported(es[i].Topic, es[i].Payload); err != nil {
			m.log.Debug("republish an imported message", "topic", es[i].Topic, "err", err)
		}
	}
}
