package rulesrt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rules/sql"
)

// Metastore keys of this package (tags not used elsewhere: see object/keys.go, iam/store.go and
// stream/registry.go):
//
//	'S' stream                       -> streamRecord
//	'y' 'd' rule                     -> ruleRecord
//	'y' 'c' rule                     -> the rule's last checkpoint (rules.Rule.Snapshot)
//	'y' 'o' rule 0 action(2) seq(8)  -> a webhook body waiting in the outbox
//
// Rule names hold no 0 byte (rules.ParseRule checks), so the 0 ends a name in outbox keys.
const (
	tagStream = 'S'
	// oldTagStream held stream records until the object store's multipart part records took
	// 'q' too ('q' bucket 0 key 0 uploadID 0 part): migrateStreamKeys moves them.
	oldTagStream = 'q'
	tagRule      = 'y'
	subDef       = 'd'
	subCkpt      = 'c'
	subOutbox    = 'o'
	syncWrites   = true
)

func streamKey(name string) []byte         { return append([]byte{tagStream}, name...) }
func ruleKey(sub byte, name string) []byte { return append([]byte{tagRule, sub}, name...) }

// streamRecord is a SQL stream as stored: a row of the rules mesh table (table.go).
type streamRecord struct {
	SQL     string `json:"sql,omitempty"`
	TS      int64  `json:"ts,omitempty"`
	By      string `json:"by,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// SQLResult is the outcome of a stream statement.
type SQLResult struct {
	Message string        `json:"message"`
	Stream  *rules.Stream `json:"stream,omitempty"`
}

// migrateStreamKeys moves the stream records of an older version from 'q' to tagStream, leaving
// the object store's part records, which share that tag, alone: a stream name is a SQL
// identifier and holds no 0 byte, a part key holds three.
func migrateStreamKeys(db *metastore.DB) error {
	b := db.NewBatch()
	defer b.Close()
	moved := 0
	err := scan(db, []byte{oldTagStream}, func(k, v []byte) error {
		if bytes.IndexByte(k[1:], 0) >= 0 {
			return nil // a part record
		}
		b.Set(append([]byte{tagStream}, k[1:]...), append([]byte(nil), v...))
		b.Delete(append([]byte(nil), k...))
		moved++
		return nil
	})
	if err != nil || moved == 0 {
		return err
	}
	if err := b.Commit(syncWrites); err != nil {
		return fmt.Errorf("move stream records to their own tag: %w", err)
	}
	return nil
}

func (rt *Runtime) loadStreams() error {
	if err := migrateStreamKeys(rt.o.DB); err != nil {
		return err
	}
	return scan(rt.o.DB, []byte{tagStream}, func(k, v []byte) error {
		var rec streamRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("load stream %s: %w", k[1:], err)
		}
		rt.streamRecs[string(k[1:])] = rec
		if rec.Deleted {
			return nil
		}
		if _, err := rt.cat.Exec(rec.SQL); err != nil {
			// A definition this version no longer accepts must not stop the node; its rules
			// will say that the stream is missing.
			rt.log.Error("stored stream no longer loads", "stream", string(k[1:]), "err", err)
		}
		return nil
	})
}

// ExecSQL runs CREATE STREAM, DROP STREAM, DESCRIBE STREAM or SHOW STREAMS and stores the
// change.
func (rt *Runtime) ExecSQL(text string) (SQLResult, error) {
	if strings.EqualFold(strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(text), ";")), " "), "SHOW STREAMS") {
		// eKuiper's listing; the parser knows stream definitions only.
		names := rt.cat.List()
		if len(names) == 0 {
			return SQLResult{Message: "No stream definitions are found."}, nil
		}
		return SQLResult{Message: strings.Join(names, "\n")}, nil
	}
	st, err := sql.Parse(text)
	if err != nil {
		return SQLResult{}, badInput(err)
	}
	switch st := st.(type) {
	case *sql.CreateStream:
		return rt.createStream(text)
	case *sql.DropStream:
		return rt.dropStream(st.Name, text)
	}
	res, err := rt.cat.Exec(text)
	if err != nil {
		return SQLResult{}, userErr(err)
	}
	return SQLResult{Message: res.Message, Stream: res.Stream}, nil
}

// userErr marks catalog errors as the user's, except those the admin API maps by themselves.
func userErr(err error) error {
	if errors.Is(err, rules.ErrStreamExists) || errors.Is(err, rules.ErrStreamNotFound) {
		return err
	}
	return badInput(err)
}

func (rt *Runtime) createStream(text string) (SQLResult, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	res, err := rt.cat.Exec(text)
	if err != nil {
		return SQLResult{}, userErr(err)
	}
	rec := streamRecord{SQL: strings.TrimSpace(text)}
	rt.stampStream(res.Stream.Name, &rec)
	if err := rt.saveStream(res.Stream.Name, rec); err != nil {
		rt.cat.Exec("DROP STREAM " + res.Stream.Name) //nolint:errcheck // undoing our own create
		return SQLResult{}, err
	}
	rt.broadcastStream(res.Stream.Name, rec)
	// Rules that failed for want of this stream can run now.
	for _, rs := range rt.rules {
		rt.ensureLocked(rs, true)
	}
	return SQLResult{Message: res.Message, Stream: res.Stream}, nil
}

func (rt *Runtime) dropStream(name, text string) (SQLResult, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var users []string
	for n, rs := range rt.rules {
		if rs.streamName() == name {
			users = append(users, n)
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return SQLResult{}, fmt.Errorf("drop stream %s: %w by rule %s: delete the rules first", name, ErrInUse, strings.Join(users, ", "))
	}
	res, err := rt.cat.Exec(text)
	if err != nil {
		return SQLResult{}, userErr(err)
	}
	rec := streamRecord{Deleted: true}
	rt.stampStream(name, &rec)
	if err := rt.saveStream(name, rec); err != nil {
		return SQLResult{}, err
	}
	rt.broadcastStream(name, rec)
	return SQLResult{Message: res.Message}, nil
}

// Streams returns the stream definitions, by name.
func (rt *Runtime) Streams() []*rules.Stream {
	var out []*rules.Stream
	for _, n := range rt.cat.List() {
		if s, ok := rt.cat.Stream(n); ok {
			out = append(out, s)
		}
	}
	return out
}
