package rulesrt

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// LogEntry is one message of a stream log as a rule reads it.
type LogEntry struct {
	Offset  uint64
	Topic   string
	Payload []byte
}

// Logs is the stream log (internal/stream) as rules read it. A persisted stream is logged on
// every node of the site; each message entered the site through one node (its origin), and the
// entries that entered through a node, read from that node's log, hold every message of the
// site exactly once (the other nodes' copies are best effort). So a rule reads one sequence per
// origin and checkpoints one offset per origin: a vector that any node of the site can resume
// from, since it names positions in the origins' logs, not in its own.
type Logs interface {
	// Covering names a persisted stream whose topic filters take every message that filter
	// matches, or returns "".
	Covering(filter string) string
	// Origins lists the nodes whose logs a rule of this site reads.
	Origins(stream string) []string
	// Seek returns the offset of the first entry of origin's log logged at or after t.
	Seek(ctx context.Context, stream, origin string, t time.Time) (uint64, error)
	// Read returns up to max entries that entered the site through origin, from offset from on,
	// waiting up to wait for the first; next is where to read on (past entries it skipped).
	Read(ctx context.Context, stream, origin string, from uint64, max int, wait time.Duration) (es []LogEntry, next uint64, err error)
}

// Checkpoints stores rule checkpoints. The default keeps them in the node's metastore; a node in
// a site keeps them where any node of the site can read them, so that a rule can move.
type Checkpoints interface {
	Load(ctx context.Context, rule string) ([]byte, error) // nil, nil when there is none
	Save(ctx context.Context, rule string, data []byte, final bool) error
	Delete(ctx context.Context, rule string) error
}

// checkpoint is what a rule saves: its engine state and, when it reads a stream log, the offset
// it reached in each origin's log, together in one record so that they can never disagree: a
// rule resumed from it neither skips an event nor counts one twice.
type checkpoint struct {
	Format  int               `json:"ckpt"` // 2; the first format was the bare engine state
	Offsets map[string]uint64 `json:"offsets,omitempty"`
	// Partial counts the events already processed of the entry at Offsets[origin], when a
	// checkpoint was taken amid an entry that holds several (a JSON array).
	Partial map[string]int `json:"partial,omitempty"`
	// Since is when the rule first ran: an origin it has no offset for is read from then on.
	Since int64           `json:"since,omitempty"`
	State json.RawMessage `json:"state"`
	// Node and Run name who wrote it (for describe and the failover test).
	Node string `json:"node,omitempty"`
	Out  int64  `json:"out"` // results emitted when it was taken
}

func decodeCheckpoint(data []byte) (checkpoint, error) {
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return c, err
	}
	if c.Format == 0 { // a bare engine snapshot, from before offsets
		return checkpoint{Format: 2, State: append(json.RawMessage(nil), data...)}, nil
	}
	if c.Format != 2 {
		return c, errors.New("unknown checkpoint format")
	}
	return c, nil
}

// FilterCovers reports whether every topic that filter f matches is matched by filter by.
func FilterCovers(by, f string) bool {
	for {
		bl, brest, bmore := strings.Cut(by, "/")
		if bl == "#" {
			return true
		}
		fl, frest, fmore := strings.Cut(f, "/")
		switch {
		case fl == "#":
			return false // f matches deeper topics than by (whose level here is not #)
		case bl == "+":
		case fl == "+" || bl != fl:
			return false
		}
		if !bmore || !fmore {
			return bmore == fmore || bmore && brest == "#"
		}
		by, f = brest, frest
	}
}
