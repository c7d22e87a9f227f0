package stream

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/minicloud/minicloud/internal/object"
)

// An archive writes the stream into a bucket as time-partitioned objects
//
//	stream=NAME/date=YYYY-MM-DD/hour=HH/part-NODE-OFFSET.{ndjson,parquet}
//
// (Hive-style partitions that DuckDB, Spark and Trino prune by), through the object layer, so
// they replicate and sync like any object. Each node archives the messages that entered the mesh
// through it (Local entries), so every message is archived once wherever it was published; the
// hour is that of its publish time, UTC. A part is named by the log offset its range starts at:
// after a crash the same range is written again under the same name (with as many or more
// messages), replacing the first attempt, so no message is archived twice.

// archiveCursor is an archiver's durable progress on this node.
type archiveCursor struct {
	Epoch  int64  `json:"epoch"`
	Offset uint64 `json:"offset"` // next log offset to archive
}

// ArchiveRow is one message in a Parquet archive part.
type ArchiveRow struct {
	ID      string    `parquet:"id"`
	Offset  int64     `parquet:"offset"`
	Topic   string    `parquet:"topic,dict"`
	Time    time.Time `parquet:"time,timestamp(microsecond)"`
	Payload []byte    `parquet:"payload"`
}

// ArchiveKey is the object key of a part.
func ArchiveKey(stream string, hour time.Time, node string, offset uint64, format string) string {
	h := hour.UTC()
	return fmt.Sprintf("stream=%s/date=%s/hour=%02d/part-%s-%020d.%s", stream, h.Format("2006-01-02"), h.Hour(), node, offset, format)
}

// runArchiver writes parts of the stream's Local entries into a.Bucket until ctx ends.
func (m *Manager) runArchiver(ctx context.Context, w *worker, l *Log, d Def, a Archive) {
	log := m.log.With("stream", d.Name, "archive", a.Bucket)
	key := stateKey(subCursor, d.Name, a.ID())
	var c archiveCursor
	if _, err := loadState(m.o.DB, key, &c); err != nil {
		log.Error("stream archiver: load cursor", "err", err)
	}
	if c.Epoch != d.Created {
		c = archiveCursor{Epoch: d.Created}
	}
	every := a.Every
	if every <= 0 {
		every = m.o.ArchiveEvery
	}
	delay := time.Duration(0)
	for ctx.Err() == nil {
		w.stats.cursor.Store(c.Offset)
		first, end := l.Bounds()
		if c.Offset < first {
			w.stats.lost.Add(first - c.Offset)
			log.Warn("stream archiver: retention dropped messages before they were archived", "lost", first-c.Offset)
			c.Offset = first
		}
		if c.Offset >= end {
			if !sleep(ctx, every) {
				return
			}
			continue
		}
		n, more, err := m.archivePart(ctx, l, d, a, &c)
		if err != nil {
			w.stats.fail(err)
			log.Warn("stream archiver: will retry", "err", err)
			delay = backoff(delay, m.o.RetryBackoffAt)
			sleep(ctx, delay)
			continue
		}
		delay = 0
		w.stats.ok()
		if n > 0 {
			w.stats.shipped.Add(uint64(n))
			w.stats.objects.Add(1)
		}
		if err := saveState(m.o.DB, key, c); err != nil {
			log.Error("stream archiver: save cursor", "err", err) // the part is rewritten after a restart
		}
		if !more && !sleep(ctx, every) { // let the next part gather messages
			return
		}
	}
}

// archivePart writes the Local entries from c.Offset that fall in the same hour as the first
// of them (at most ArchiveBytes of payload) as one part, and advances c past them. more tells
// that the part was cut by the hour or the size limit, not by the end of the log.
func (m *Manager) archivePart(ctx context.Context, l *Log, d Def, a Archive, c *archiveCursor) (n int, more bool, err error) {
	es, err := l.Read(c.Offset, 1<<20, m.o.ArchiveBytes)
	if err != nil || len(es) == 0 {
		return 0, false, err
	}
	size := 0
	for _, e := range es {
		size += len(e.Payload)
	}
	more = size >= m.o.ArchiveBytes
	var part []Entry
	var hour time.Time
	end := es[len(es)-1].Offset + 1
	for _, e := range es {
		if e.Kind != Local {
			continue
		}
		h := e.Time.UTC().Truncate(time.Hour)
		if part == nil {
			hour = h
		} else if !h.Equal(hour) {
			end, more = e.Offset, true // the next part starts here
			break
		}
		part = append(part, e)
	}
	if len(part) > 0 {
		body, err := encodePart(part, a.Format)
		if err != nil {
			return 0, false, err
		}
		k := ArchiveKey(d.Name, hour, m.o.NodeID, c.Offset, a.Format)
		ct := "application/x-ndjson"
		if a.Format == "parquet" {
			ct = "application/vnd.apache.parquet"
		}
		if _, err := m.o.Objects.PutObject(ctx, a.Bucket, k, bytes.NewReader(body), int64(len(body)), object.PutOptions{Meta: object.Meta{ContentType: ct}}); err != nil {
			return 0, false, fmt.Errorf("put %s/%s: %w", a.Bucket, k, err)
		}
	}
	c.Offset = end
	return len(part), more, nil
}

func encodePart(es []Entry, format string) ([]byte, error) {
	if format != "parquet" {
		return encodeNDJSON(es)
	}
	rows := make([]ArchiveRow, len(es))
	for i := range es {
		e := &es[i]
		rows[i] = ArchiveRow{ID: e.ID(), Offset: int64(e.Offset), Topic: e.Topic, Time: e.Time.UTC(), Payload: e.Payload}
	}
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[ArchiveRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := pw.Write(rows); err != nil {
		return nil, fmt.Errorf("encode parquet part: %w", err)
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("encode parquet part: %w", err)
	}
	return buf.Bytes(), nil
}
