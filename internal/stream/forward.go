package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Forwarding is store-and-forward through the object layer rather than an RPC of its own: each
// node writes the stream's messages that entered the mesh through it, in order, as numbered
// batch objects
//
//	STREAM/CREATED/ORIGIN/BATCH.ndjson    (BATCH: 0, 1, 2, ... zero-padded)
//
// into a bucket hosted by its own site and the target site (or, for the cloud, by its own site
// with the target as the bucket's sync target). The object layer acknowledges a batch once W
// replicas of this site have it and ships it to the target across outages of any length from a
// durable outbox: nothing here needs its own retry queue, acknowledgement protocol or
// encryption. The receiver (importer.go) reads batches in number order, so a publisher's
// messages keep their order, and drops ids it already has, so a batch read twice (a crash
// between import and cursor) is harmless. Batches never change once written: a forwarder that
// is unsure whether its PUT landed (an error, a crash) looks before writing the number again
// (adoptShipped), so the receiver never misses messages added to a batch it already read.

// fwdCursor is a forwarder's durable progress on this node.
type fwdCursor struct {
	Epoch  int64  `json:"epoch"`  // Def.Created of the stream it ships
	Offset uint64 `json:"offset"` // next log offset to ship
	Batch  uint64 `json:"batch"`  // number of the next batch object
	Gap    bool   `json:"gap,omitempty"`
}

// Batch object user metadata.
const (
	metaEnd      = "stream-end"      // log offset after the batch's last entry, at its origin
	metaMessages = "stream-messages" // messages in the batch
	metaGap      = "stream-gap"      // "true": retention dropped messages just before this batch
)

func hashName(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ForwardBucket is the bucket that carries streams from site src to site dst, hosted by both.
// A hash keeps any two site names apart and within S3's name rules.
func ForwardBucket(src, dst string) string { return "minicloud-fwd-" + hashName(src, dst) }

// cloudBucket is the bucket, hosted by site, whose sync target is the cloud target t.
func cloudBucket(site string, t *object.SyncTarget) string {
	return "minicloud-cloud-" + hashName(site, t.Endpoint, t.Bucket, t.Prefix)
}

func batchPrefix(d Def, origin string) string {
	return fmt.Sprintf("%s/%d/%s/", d.Name, d.Created, origin)
}

func batchKey(prefix string, n uint64) string { return fmt.Sprintf("%s%020d.ndjson", prefix, n) }

// ensureForwardBucket creates the target's bucket if it does not exist yet.
func (m *Manager) ensureForwardBucket(ctx context.Context, f Forward) (string, error) {
	if f.Cloud == nil {
		name := ForwardBucket(m.o.Site, f.Site)
		return name, m.ensureBucket(ctx, name, []string{m.o.Site, f.Site})
	}
	name := cloudBucket(m.o.Site, f.Cloud)
	if err := m.ensureBucket(ctx, name, []string{m.o.Site}); err != nil {
		return "", err
	}
	b, err := m.o.Objects.GetBucket(ctx, name)
	if err != nil {
		return "", fmt.Errorf("read bucket %s: %w", name, err)
	}
	for _, t := range b.Sync {
		if t.Endpoint == f.Cloud.Endpoint && t.Bucket == f.Cloud.Bucket && t.Prefix == f.Cloud.Prefix {
			return name, nil
		}
	}
	if _, err := m.o.Objects.AddSyncTarget(ctx, name, *f.Cloud); err != nil {
		return "", fmt.Errorf("sync bucket %s to %s: %w", name, f.ID(), err)
	}
	return name, nil
}

func (m *Manager) ensureBucket(ctx context.Context, name string, sites []string) error {
	if _, err := m.o.Objects.GetBucket(ctx, name); err == nil {
		return nil
	}
	err := m.o.Objects.CreateBucketSites(ctx, name, sites)
	if err != nil && !errors.Is(err, object.ErrBucketExists) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// runForwarder ships the stream's Local entries to f until ctx ends.
func (m *Manager) runForwarder(ctx context.Context, w *worker, l *Log, d Def, f Forward) {
	log := m.log.With("stream", d.Name, "forward", f.ID())
	key := stateKey(subCursor, d.Name, f.ID())
	var c fwdCursor
	if _, err := loadState(m.o.DB, key, &c); err != nil {
		log.Error("stream forwarder: load cursor", "err", err)
	}
	if c.Epoch != d.Created {
		c = fwdCursor{Epoch: d.Created}
	}
	prefix := batchPrefix(d, m.o.NodeID)
	bucket, unsure, delay := "", true, time.Duration(0)
	var lastShip time.Time
	for ctx.Err() == nil {
		w.stats.cursor.Store(c.Offset)
		var err error
		if bucket == "" {
			bucket, err = m.ensureForwardBucket(ctx, f)
		}
		if err == nil && unsure {
			err = m.adoptShipped(ctx, bucket, prefix, &c, key)
		}
		if err != nil {
			w.stats.fail(err)
			log.Warn("stream forwarder: will retry", "err", err)
			delay = backoff(delay, m.o.RetryBackoffAt)
			sleep(ctx, delay)
			continue
		}
		unsure = false
		first, end := l.Bounds()
		if c.Offset < first {
			w.stats.lost.Add(first - c.Offset)
			log.Warn("stream forwarder: retention dropped messages before they were shipped", "lost", first-c.Offset)
			c.Offset, c.Gap = first, true
		}
		if c.Offset >= end {
			if err := l.Wait(ctx, c.Offset); err != nil {
				return
			}
			continue
		}
		if wait := m.o.ShipEvery - time.Since(lastShip); wait > 0 && !sleep(ctx, wait) {
			return // gather a batch rather than ship every message alone
		}
		shipped, err := m.shipBatch(ctx, l, bucket, prefix, &c)
		if err != nil {
			w.stats.fail(err)
			log.Warn("stream forwarder: ship a batch; will retry", "batch", c.Batch, "err", err)
			unsure = true // it may have landed: look before writing the number again
			delay = backoff(delay, m.o.RetryBackoffAt)
			sleep(ctx, delay)
			continue
		}
		if err := saveState(m.o.DB, key, c); err != nil {
			log.Error("stream forwarder: save cursor", "err", err) // shipped again after a restart, dropped there
		}
		delay, lastShip = 0, time.Now()
		w.stats.ok()
		if shipped > 0 {
			w.stats.shipped.Add(uint64(shipped))
			w.stats.objects.Add(1)
		}
	}
}

// shipBatch writes the next batch of Local entries from c.Offset and advances c; entries of
// other kinds are skipped (they are shipped by the node or site they entered through).
func (m *Manager) shipBatch(ctx context.Context, l *Log, bucket, prefix string, c *fwdCursor) (int, error) {
	es, err := l.Read(c.Offset, m.o.BatchMessages, m.o.BatchBytes)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	end := es[len(es)-1].Offset + 1
	local := es[:0]
	for _, e := range es {
		if e.Kind == Local {
			local = append(local, e)
		}
	}
	if len(local) == 0 {
		c.Offset = end
		return 0, nil
	}
	body, err := encodeNDJSON(local)
	if err != nil {
		return 0, err
	}
	meta := object.Meta{ContentType: "application/x-ndjson", User: map[string]string{
		metaEnd: strconv.FormatUint(end, 10), metaMessages: strconv.Itoa(len(local)), metaGap: strconv.FormatBool(c.Gap),
	}}
	k := batchKey(prefix, c.Batch)
	if _, err := m.o.Objects.PutObject(ctx, bucket, k, bytes.NewReader(body), int64(len(body)), object.PutOptions{Meta: meta}); err != nil {
		return 0, fmt.Errorf("put %s/%s: %w", bucket, k, err)
	}
	c.Offset, c.Batch, c.Gap = end, c.Batch+1, false
	return len(local), nil
}

// adoptShipped moves c past batches that are already in the bucket: written before a crash
// or by a PUT that reported an error but landed.
func (m *Manager) adoptShipped(ctx context.Context, bucket, prefix string, c *fwdCursor, key []byte) error {
	moved := false
	for {
		info, err := m.o.Objects.HeadObject(ctx, bucket, batchKey(prefix, c.Batch), "")
		if errors.Is(err, object.ErrNoSuchKey) {
			break
		}
		if err != nil {
			return fmt.Errorf("look for batch %d: %w", c.Batch, err)
		}
		end, err := strconv.ParseUint(info.Meta.User[metaEnd], 10, 64)
		if err != nil {
			return fmt.Errorf("batch %d has no valid %s: %w", c.Batch, metaEnd, err)
		}
		if end > c.Offset {
			c.Offset = end
		}
		c.Batch++
		moved = true
	}
	if !moved {
		return nil
	}
	return saveState(m.o.DB, key, c)
}
