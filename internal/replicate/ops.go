package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Binary operations: the hot replica operations (reads of version heads, batched merges, record
// fetches) as one route, POST /rpc/op/{name}, with binary bodies
// (codec.go). Each op is a function from request bytes to response bytes, so that the same
// table can be served over any transport.

// opFunc answers one operation. An error wrapping errBadRequest is the caller's fault.
type opFunc func(ctx context.Context, req []byte) ([]byte, error)

var errBadRequest = errors.New("bad request")

func badRequest(err error) error { return fmt.Errorf("%w: %v", errBadRequest, err) }

// Op names.
const (
	opHeads  = "heads"
	opRecord = "record"
	opMerges = "merges"
	opList   = "list"
	// opMergesL is opMerges whose answer also carries each record's lease note (lease.go).
	opMergesL = "mergesl"
	opLease   = "lease" // a lease grant request (leaseops.go)
)

func (s *Server) registerOps() {
	s.ops = map[string]opFunc{
		opHeads:   s.opHeads,
		opRecord:  s.opRecord,
		opMerges:  s.opMerges,
		opList:    s.opList,
		opMergesL: s.opMergesL,
		opLease:   s.opLease,
	}
	s.Mux.HandleFunc("POST /rpc/op/{name}", s.serveOp)
}

func (s *Server) serveOp(w http.ResponseWriter, r *http.Request) {
	fn, ok := s.ops[r.PathValue("name")]
	if !ok {
		http.Error(w, "unknown operation", http.StatusNotFound)
		return
	}
	req, err := io.ReadAll(io.LimitReader(r.Body, maxRPCBody+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(req) > maxRPCBody {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	resp, err := fn(r.Context(), req)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errBadRequest) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(resp)
}

// op calls a binary operation on addr: framed when the peer offers it, else over HTTP.
func (c *Client) op(ctx context.Context, addr, name string, req []byte) ([]byte, error) {
	if c.frames != nil {
		resp, err := c.frames.call(ctx, addr, name, req)
		if !errors.Is(err, errNoFrames) {
			return resp, err
		}
	}
	var out []byte
	err := c.do(ctx, "POST", addr, "/rpc/op/"+name, nil, req, &out)
	return out, err
}

// heads: bucket, key, full → count × (record, cut). With full, records come whole (cut false).
func (s *Server) opHeads(_ context.Context, req []byte) ([]byte, error) {
	d := dec{b: req}
	bucket, key, full := d.str(), d.str(), d.bool()
	if err := d.done(); err != nil {
		return nil, badRequest(err)
	}
	msgs, cut, err := s.local.StoredRecords(bucket, key, full)
	if err != nil {
		return nil, err
	}
	return encodeHeads(msgs, cut), nil
}

func encodeHeads(msgs []object.RecordMsg, cut []bool) []byte {
	e := enc{}
	e.uvarint(uint64(len(msgs)))
	for i, m := range msgs {
		e.record(m)
		e.bool(cut[i])
	}
	return e.b
}

func decodeHeads(b []byte) ([]object.RecordMsg, []bool, error) {
	d := dec{b: b}
	n := d.count(minRecord + 1)
	msgs, cut := make([]object.RecordMsg, 0, n), make([]bool, 0, n)
	for i := 0; i < n; i++ {
		msgs = append(msgs, d.record())
		cut = append(cut, d.bool())
	}
	return msgs, cut, d.done()
}

// Heads asks addr for the records of bucket/key: heads only (inline data cut) unless full.
func (c *Client) Heads(ctx context.Context, addr, bucket, key string, full bool) ([]object.RecordMsg, []bool, error) {
	resp, err := c.op(ctx, addr, opHeads, headsRequest(bucket, key, full))
	if err != nil {
		return nil, nil, err
	}
	return decodeHeads(resp)
}

func headsRequest(bucket, key string, full bool) []byte {
	e := enc{}
	e.str(bucket)
	e.str(key)
	e.bool(full)
	return e.b
}

// headsAsync is Heads with the answer given to done (from another goroutine, possibly before
// headsAsync returns); done must not block.
func (c *Client) headsAsync(ctx context.Context, addr, bucket, key string, full bool, done func([]object.RecordMsg, []bool, error)) {
	req := headsRequest(bucket, key, full)
	if c.frames != nil {
		// Only on a connection already open: dialling here would hold up the caller (a peer
		// cut off makes it wait for the dial timeout, where the caller would rather hedge).
		if conn := c.frames.open(addr); conn != nil {
			conn.callAsync(opHeads, req, func(resp []byte, err error) {
				if err != nil {
					done(nil, nil, err)
					return
				}
				done(decodeHeads(resp))
			})
			return
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done(c.Heads(ctx, addr, bucket, key, full))
	}()
}

// record: bucket, key, version → found, record.
func (s *Server) opRecord(_ context.Context, req []byte) ([]byte, error) {
	d := dec{b: req}
	bucket, key, v := d.str(), d.str(), d.version()
	if err := d.done(); err != nil {
		return nil, badRequest(err)
	}
	m, err := s.local.KeyRecord(bucket, key, v)
	e := enc{}
	if errors.Is(err, object.ErrNoRecord) {
		e.bool(false)
		return e.b, nil
	}
	if err != nil {
		return nil, err
	}
	e.bool(true)
	e.record(m)
	return e.b, nil
}

// Record reads the full record of one version of bucket/key from addr (object.ErrNoRecord if
// it has none).
func (c *Client) Record(ctx context.Context, addr string, h object.RecordMsg) (object.RecordMsg, error) {
	e := enc{}
	e.str(h.Bucket)
	e.str(h.Key)
	e.version(h.Version)
	resp, err := c.op(ctx, addr, opRecord, e.b)
	if err != nil {
		return object.RecordMsg{}, err
	}
	d := dec{b: resp}
	if !d.bool() {
		if err := d.done(); err != nil {
			return object.RecordMsg{}, err
		}
		return object.RecordMsg{}, object.ErrNoRecord
	}
	m := d.record()
	if err := d.done(); err != nil {
		return object.RecordMsg{}, err
	}
	return m, nil
}

// Merge outcomes in a merges answer.
const (
	mergedOK      = 0
	mergedMissing = 1 // the record's chunks are missing: ids follow
	mergedFailed  = 2 // an error message follows
)

// mergeParallel bounds the merges of one batch running at once: concurrent commits share
// fsyncs (pebble's group commit), and merges are idempotent CRDT merges under a per-key lock,
// so their order within a batch does not matter.
const mergeParallel = 16

// merges: count × record → count × outcome.
func (s *Server) opMerges(_ context.Context, req []byte) ([]byte, error) {
	msgs, err := decodeRecords(req)
	if err != nil {
		return nil, badRequest(err)
	}
	errs, _ := s.mergeAll(msgs)
	return s.encodeOutcomes(msgs, errs), nil
}

// mergesl: count × record → count × outcome, then count × lease note.
func (s *Server) opMergesL(_ context.Context, req []byte) ([]byte, error) {
	msgs, err := decodeRecords(req)
	if err != nil {
		return nil, badRequest(err)
	}
	errs, notes := s.mergeAll(msgs)
	e := enc{b: s.encodeOutcomes(msgs, errs)}
	for _, n := range notes {
		e.note(n)
	}
	return e.b, nil
}

// mergeAll merges msgs concurrently; each merged record is logged by the lease grantor, whose
// note goes with its acknowledgement.
func (s *Server) mergeAll(msgs []object.RecordMsg) ([]error, []leaseNote) {
	errs := make([]error, len(msgs))
	notes := make([]leaseNote, len(msgs))
	sem := make(chan struct{}, mergeParallel)
	var wg sync.WaitGroup
	for i, m := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var changed bool
			if changed, errs[i] = s.local.MergeRecord(m); errs[i] == nil {
				notes[i] = s.grants.merged(m, changed)
			}
		}()
	}
	wg.Wait()
	return errs, notes
}

func (s *Server) encodeOutcomes(msgs []object.RecordMsg, errs []error) []byte {
	e := enc{}
	e.uvarint(uint64(len(msgs)))
	for i, err := range errs {
		switch {
		case err == nil:
			e.uvarint(mergedOK)
		case errors.Is(err, object.ErrMissingChunks):
			e.uvarint(mergedMissing)
			refs, _ := msgs[i].Chunks()
			var miss []string
			for _, c := range refs {
				if !s.local.HasChunk(c.ID) {
					miss = append(miss, c.ID)
				}
			}
			e.uvarint(uint64(len(miss)))
			for _, id := range miss {
				e.str(id)
			}
		default:
			e.uvarint(mergedFailed)
			e.str(err.Error())
		}
	}
	return e.b
}

func encodeRecords(msgs []object.RecordMsg) []byte {
	e := enc{}
	e.uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		e.record(m)
	}
	return e.b
}

func decodeRecords(b []byte) ([]object.RecordMsg, error) {
	d := dec{b: b}
	n := d.count(minRecord)
	msgs := make([]object.RecordMsg, 0, n)
	for i := 0; i < n; i++ {
		msgs = append(msgs, d.record())
	}
	return msgs, d.done()
}

// mergeOutcome is a peer's answer for one record of a batch.
type mergeOutcome struct {
	missing []string // chunk ids the peer lacks (ErrMissingChunks)
	err     error
	note    leaseNote // the peer's lease note (lease.go)
}

// Merges asks addr to merge msgs in one round trip; the answer has one outcome per record, with
// the peer's lease notes.
func (c *Client) Merges(ctx context.Context, addr string, msgs []object.RecordMsg) ([]mergeOutcome, error) {
	body := encodeRecords(msgs)
	resp, err := c.op(ctx, addr, opMergesL, body)
	if unknownOp(err) {
		// A node from before leases: it grants none, so its acknowledgements need no note.
		resp, err = c.op(ctx, addr, opMerges, body)
		if err != nil {
			return nil, err
		}
		d := dec{b: resp}
		out, err := decodeOutcomes(&d, len(msgs))
		if err == nil {
			err = d.done()
		}
		return out, err
	}
	if err != nil {
		return nil, err
	}
	d := dec{b: resp}
	out, err := decodeOutcomes(&d, len(msgs))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].note = d.note()
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeOutcomes decodes the outcomes of a merges answer for a request of want records.
func decodeOutcomes(d *dec, want int) ([]mergeOutcome, error) {
	n := d.count(1)
	if d.err == nil && n != want {
		return nil, fmt.Errorf("merges: %d outcomes for %d records", n, want)
	}
	out := make([]mergeOutcome, n)
	for i := range out {
		switch d.uvarint() {
		case mergedOK:
		case mergedMissing:
			k := d.count(1)
			for j := 0; j < k; j++ {
				out[i].missing = append(out[i].missing, d.str())
			}
			out[i].err = object.ErrMissingChunks
		case mergedFailed:
			out[i].err = fmt.Errorf("peer: %s", d.str())
		default:
			d.fail()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

// list: bucket, prefix, after, limit → found, truncated, count × record (the newest record of each
// key after `after`, headers only: object.Store.ListLatest). found is false when this node does
// not know the bucket.
func (s *Server) opList(_ context.Context, req []byte) ([]byte, error) {
	d := dec{b: req}
	bucket, prefix, after, limit := d.str(), d.str(), d.str(), int(d.uvarint())
	if err := d.done(); err != nil {
		return nil, badRequest(err)
	}
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	msgs, trunc, err := s.local.ListLatest(bucket, prefix, after, limit)
	e := enc{}
	if errors.Is(err, object.ErrNoSuchBucket) {
		e.bool(false)
		return e.b, nil
	}
	if err != nil {
		return nil, err
	}
	return encodeList(msgs, trunc), nil
}

func encodeList(msgs []object.RecordMsg, trunc bool) []byte {
	e := enc{}
	e.bool(true)
	e.bool(trunc)
	e.uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		e.record(m)
	}
	return e.b
}

// decodeList decodes a list answer; found is false when the peer does not know the bucket.
func decodeList(b []byte) (msgs []object.RecordMsg, trunc, found bool, err error) {
	d := dec{b: b}
	if found = d.bool(); !found {
		return nil, false, false, d.done()
	}
	trunc = d.bool()
	n := d.count(minRecord)
	msgs = make([]object.RecordMsg, 0, n)
	for i := 0; i < n; i++ {
		msgs = append(msgs, d.record())
	}
	return msgs, trunc, true, d.done()
}

// List reads a page of newest-per-key records from addr.
func (c *Client) List(ctx context.Context, addr, bucket, prefix, after string, limit int) ([]object.RecordMsg, bool, error) {
	e := enc{}
	e.str(bucket)
	e.str(prefix)
	e.str(after)
	e.uvarint(uint64(limit))
	resp, err := c.op(ctx, addr, opList, e.b)
	if unknownOp(err) {
		return c.listJSON(ctx, addr, bucket, prefix, after, limit) // a node from before the op
	}
	if err != nil {
		return nil, false, err
	}
	msgs, trunc, found, err := decodeList(resp)
	if err != nil {
		return nil, false, fmt.Errorf("list answer from %s: %w", addr, err)
	}
	if !found {
		return nil, false, object.ErrNoSuchBucket
	}
	return msgs, trunc, nil
}

// unknownOp tells whether err is a peer's answer that it has no such operation (over frames or
// over HTTP).
func unknownOp(err error) bool {
	var es *errStatus
	if !errors.As(err, &es) {
		return false
	}
	return es.code == http.StatusNotFound || (es.code == http.StatusBadRequest && strings.HasPrefix(es.body, "unknown operation"))
}
