package rulesrt

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The rules mesh table: SQL streams and rules are rows of a last-writer-wins map (with
// tombstones) that every node holds, so that they can be defined on any node, even one cut off
// from the others, and merge when nodes meet (DESIGN.md, mesh tables). The node carries rows
// over gossip: Table and Merge are its side, Options.OnChange tells it of a local change.
// Which node runs a rule is Options.Owner's answer, asked again every ReconcileEvery, so that a
// rule moves within seconds when the node that ran it dies.

// TableRow is one row of the rules mesh table.
type TableRow struct {
	Kind    string          `json:"kind"` // "rule" or "stream"
	Name    string          `json:"name"`
	Def     json.RawMessage `json:"def,omitempty"` // a rule's JSON
	SQL     string          `json:"sql,omitempty"` // a stream's CREATE STREAM
	Stopped bool            `json:"stopped,omitempty"`
	TS      int64           `json:"ts"` // last change, unix ns
	By      string          `json:"by"` // the node that made it: breaks TS ties
	Deleted bool            `json:"deleted,omitempty"`
}

// Row kinds.
const (
	KindRule   = "rule"
	KindStream = "stream"
)

func newer(ts int64, by string, thanTS int64, thanBy string) bool {
	if ts != thanTS {
		return ts > thanTS
	}
	return by > thanBy
}

func (rt *Runtime) stamp(prevTS int64) (int64, string) {
	return max(time.Now().UnixNano(), prevTS+1), rt.o.NodeID
}

func (rt *Runtime) stampRule(name string, rec *ruleRecord) {
	rec.TS, rec.By = rt.stamp(rt.ruleRecs[name].TS)
}

func (rt *Runtime) stampStream(name string, rec *streamRecord) {
	rec.TS, rec.By = rt.stamp(rt.streamRecs[name].TS)
}

func (rt *Runtime) saveRule(name string, rec ruleRecord) error {
	v, _ := json.Marshal(rec)
	if err := put(rt.o.DB, ruleKey(subDef, name), v, syncWrites); err != nil {
		return fmt.Errorf("store rule %s: %w", name, err)
	}
	rt.ruleRecs[name] = rec
	return nil
}

func (rt *Runtime) saveStream(name string, rec streamRecord) error {
	v, _ := json.Marshal(rec)
	if err := put(rt.o.DB, streamKey(name), v, syncWrites); err != nil {
		return fmt.Errorf("store stream %s: %w", name, err)
	}
	rt.streamRecs[name] = rec
	return nil
}

func (rt *Runtime) broadcastRule(name string, rec ruleRecord) {
	if rt.o.OnChange != nil {
		rt.o.OnChange(TableRow{Kind: KindRule, Name: name, Def: rec.Def, Stopped: rec.Stopped, TS: rec.TS, By: rec.By, Deleted: rec.Deleted})
	}
}

func (rt *Runtime) broadcastStream(name string, rec streamRecord) {
	if rt.o.OnChange != nil {
		rt.o.OnChange(TableRow{Kind: KindStream, Name: name, SQL: rec.SQL, TS: rec.TS, By: rec.By, Deleted: rec.Deleted})
	}
}

// Table returns every row, tombstones included: this node's side of the mesh table.
func (rt *Runtime) Table() []TableRow {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]TableRow, 0, len(rt.streamRecs)+len(rt.ruleRecs))
	for n, r := range rt.streamRecs {
		out = append(out, TableRow{Kind: KindStream, Name: n, SQL: r.SQL, TS: r.TS, By: r.By, Deleted: r.Deleted})
	}
	for n, r := range rt.ruleRecs {
		out = append(out, TableRow{Kind: KindRule, Name: n, Def: r.Def, Stopped: r.Stopped, TS: r.TS, By: r.By, Deleted: r.Deleted})
	}
	return out
}

// Merge takes rows from another node; the newer version of each wins. Streams go first, so that
// a rule arriving with its stream starts.
func (rt *Runtime) Merge(rows []TableRow) {
	rows = append([]TableRow(nil), rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Kind == KindStream && rows[j].Kind != KindStream })
	rt.mu.Lock()
	defer rt.mu.Unlock()
	streams := false
	for _, r := range rows {
		if r.Name == "" || len(r.Name) > 128 || strings.ContainsRune(r.Name, 0) {
			continue
		}
		switch r.Kind {
		case KindStream:
			streams = rt.mergeStreamLocked(r) || streams
		case KindRule:
			rt.mergeRuleLocked(r)
		}
	}
	if streams {
		for _, rs := range rt.rules {
			rt.ensureLocked(rs, true)
		}
	}
}

func (rt *Runtime) mergeStreamLocked(r TableRow) bool {
	cur := rt.streamRecs[r.Name]
	if !newer(r.TS, r.By, cur.TS, cur.By) {
		return false
	}
	rec := streamRecord{SQL: r.SQL, TS: r.TS, By: r.By, Deleted: r.Deleted}
	if err := rt.saveStream(r.Name, rec); err != nil {
		rt.log.Error("merge stream", "stream", r.Name, "err", err)
		return false
	}
	_, exists := rt.cat.Stream(r.Name)
	if exists && (r.Deleted || cur.SQL != r.SQL) {
		rt.cat.Exec("DROP STREAM " + r.Name) //nolint:errcheck // it exists
		exists = false
	}
	if !r.Deleted && !exists {
		if _, err := rt.cat.Exec(r.SQL); err != nil {
			rt.log.Error("stream from another node does not load", "stream", r.Name, "err", err)
		}
	}
	return true
}

func (rt *Runtime) mergeRuleLocked(r TableRow) {
	cur := rt.ruleRecs[r.Name]
	if !newer(r.TS, r.By, cur.TS, cur.By) {
		return
	}
	rec := ruleRecord{Def: r.Def, Stopped: r.Stopped, TS: r.TS, By: r.By, Deleted: r.Deleted}
	rs, exists := rt.rules[r.Name]
	if r.Deleted {
		if exists && rs.running() {
			// It ran here: its last checkpoint, written as it stopped, must not outlive it (a
			// rule created again under the name would resume from it).
			rs.stop()
			if err := rt.o.Checkpoints.Delete(rt.ctx, r.Name); err != nil {
				rt.log.Warn("delete the checkpoint of a deleted rule", "rule", r.Name, "err", err)
			}
		}
		if err := rt.dropRuleLocked(r.Name, rec); err != nil {
			rt.log.Error("merge rule", "rule", r.Name, "err", err)
		}
		return
	}
	if err := rt.saveRule(r.Name, rec); err != nil {
		rt.log.Error("merge rule", "rule", r.Name, "err", err)
		return
	}
	if exists && string(compactJSON(r.Def)) == string(rs.def) { // only started or stopped
		rs.mu.Lock()
		rs.stopped = r.Stopped
		rs.mu.Unlock()
		rt.ensureLocked(rs, true)
		return
	}
	rt.installLocked(r.Name, rec, false)
}

// ensureLocked starts or stops a rule as its definition and ownership say: it runs when wanted
// and this node is the one of its site to run it. A rule that failed to start is tried again
// after a while (now: at once). rt.mu is held.
func (rt *Runtime) ensureLocked(rs *ruleState, now bool) {
	owner, here := "", true
	if rt.o.Owner != nil && rs.spec.SQL != "" {
		owner, here = rt.o.Owner(rs.spec, rs.streamName())
	}
	rs.mu.Lock()
	if here && rs.elsewhere && rt.o.Owner != nil && rs.owner != "" && (rt.o.Alive == nil || rt.o.Alive(rs.owner)) {
		// Taking over from a node that is alive and may still be running it (this node came
		// back, or the layout changed): give it time to stop and write its last checkpoint
		// first. From a dead node, at once.
		rs.notBefore = time.Now().Add(rt.o.HandoffDelay)
	}
	rs.owner, rs.elsewhere = owner, !here
	want, running, failed, tried, notBefore := !rs.stopped, rs.run != nil, rs.failure != "", rs.tried, rs.notBefore
	rs.mu.Unlock()
	if running && want && here && rt.o.Logs != nil && !rt.inputCurrent(rs) {
		// A persisted stream now covers (or no longer covers) the rule's topics: restart it
		// on the other input, from its checkpoint.
		rs.stop()
		running = false
	}
	switch {
	case running && (!want || !here):
		rs.stop()
		rt.drainLocked(rs)
	case !running && (!want || !here):
		rt.drainLocked(rs)
	case !running && want && here:
		if failed && !now && time.Since(tried) < retryFailedEvery || time.Now().Before(notBefore) {
			return
		}
		rt.startLocked(rs)
		if !rs.running() {
			rs.mu.Lock()
			rs.tried = time.Now()
			rs.mu.Unlock()
		}
	}
}

const retryFailedEvery = 10 * time.Second

// inputCurrent tells whether a running rule reads what it should: the log of the persisted
// stream that covers its topics, or the broker when none does.
func (rt *Runtime) inputCurrent(rs *ruleState) bool {
	rs.mu.Lock()
	input, topic := rs.input, rs.topic
	rs.mu.Unlock()
	want := "broker"
	if name := rt.o.Logs.Covering(topic); name != "" {
		want = "stream log " + name
	}
	return input == want
}

// reconcile runs ensureLocked over every rule every ReconcileEvery, until Close.
func (rt *Runtime) reconcile() {
	t := time.NewTicker(rt.o.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-rt.ctx.Done():
			return
		case <-t.C:
		}
		rt.Reconcile()
	}
}

// Reconcile starts and stops rules where ownership changed (the node calls it when membership
// changes; it also runs every ReconcileEvery).
func (rt *Runtime) Reconcile() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.ctx.Err() != nil {
		return
	}
	for _, rs := range rt.rules {
		rt.ensureLocked(rs, false)
	}
}
