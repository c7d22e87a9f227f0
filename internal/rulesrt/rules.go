package rulesrt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rules/sql"
)

// ruleRecord is a rule as stored: its JSON as the user gave it, and whether it should run. It is
// a row of the rules mesh table (table.go): TS and By order versions, Deleted is a tombstone.
type ruleRecord struct {
	Def     json.RawMessage `json:"def,omitempty"`
	Stopped bool            `json:"stopped,omitempty"`
	TS      int64           `json:"ts,omitempty"`
	By      string          `json:"by,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
}

// ruleState is one rule of the runtime: its definition, its counters and, while it runs, the
// handle of its goroutines.
type ruleState struct {
	name    string
	def     json.RawMessage
	spec    *rules.RuleSpec
	actions []*actionState

	mu        sync.Mutex
	stopped   bool   // by the user
	failure   string // why it is not running although it should
	stats     rules.Stats
	stream    string
	topic     string
	input     string // "broker" or "stream log NAME"
	run       *runHandle
	drain     *drainHandle // delivering the outboxes of a rule that does not run here
	owner     string       // the node that runs it, when not this one ("": not on this site)
	elsewhere bool         // another node (or no node of this site) runs it
	tried     time.Time    // last start that failed: retried after a while
	notBefore time.Time    // a takeover waits for the previous node to stop
	decodeErr atomic.Int64
	dropped   atomic.Int64
	// checkpointedOut is the result count in the last checkpoint saved (-1: none yet).
	checkpointedOut atomic.Int64
}

func (rs *ruleState) wantRunning() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return !rs.stopped
}

func (rs *ruleState) running() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.run != nil
}

// streamName is the stream the rule reads, from its SQL (known even when it cannot compile).
func (rs *ruleState) streamName() string {
	if sel, err := sql.ParseSelect(rs.spec.SQL); err == nil {
		return sel.From
	}
	return ""
}

func (rs *ruleState) setFailure(msg string) {
	rs.mu.Lock()
	rs.failure = msg
	rs.mu.Unlock()
}

func (rs *ruleState) info() RuleInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	info := RuleInfo{
		Name: rs.name, SQL: rs.spec.SQL, Stream: rs.stream, Topic: rs.topic, Input: rs.input, Definition: rs.def,
		Stats: RuleStats{
			In: rs.stats.In, Out: rs.stats.Out, Late: rs.stats.Late, Errors: rs.stats.Errors,
			LastError: rs.stats.LastError, DecodeErrors: rs.decodeErr.Load(), Dropped: rs.dropped.Load(),
			CheckpointedOut: rs.checkpointedOut.Load(),
		},
	}
	switch {
	case rs.run != nil:
		info.Status = StatusRunning
	case rs.stopped:
		info.Status = StatusStopped
	case rs.elsewhere:
		info.Status, info.Owner = StatusStandby, rs.owner
	default:
		info.Status, info.Error = StatusFailed, rs.failure
	}
	if info.Stream == "" {
		info.Stream = rs.streamName()
	}
	for _, a := range rs.actions {
		info.Actions = append(info.Actions, a.info())
	}
	return info
}

// Create validates, stores and starts a rule. name may be "" when the JSON has an id.
func (rt *Runtime) Create(name string, def []byte) (RuleInfo, error) {
	spec, err := rules.ParseRule(def, name)
	if err != nil {
		return RuleInfo{}, badInput(stripInvalid(err))
	}
	if err := rt.supported(spec); err != nil {
		return RuleInfo{}, badInput(err)
	}
	// Compile now so that a rule that cannot run is refused with its position, not stored.
	if _, err := spec.Compile(rt.cat, rt.o.Clock); err != nil {
		return RuleInfo{}, badInput(stripRulePrefix(err, spec.ID))
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if _, ok := rt.rules[spec.ID]; ok {
		return RuleInfo{}, fmt.Errorf("rule %s: %w (delete it first)", spec.ID, ErrExists)
	}
	rec := ruleRecord{Def: compactJSON(def)}
	rt.stampRule(spec.ID, &rec)
	if err := rt.saveRule(spec.ID, rec); err != nil {
		return RuleInfo{}, err
	}
	rs := rt.newState(spec, def, false)
	rt.rules[spec.ID] = rs
	rt.ensureLocked(rs, true)
	rt.broadcastRule(spec.ID, rec)
	return rs.info(), nil
}

func (rt *Runtime) newState(spec *rules.RuleSpec, def []byte, stopped bool) *ruleState {
	rs := &ruleState{name: spec.ID, def: compactJSON(def), spec: spec, stopped: stopped}
	rs.checkpointedOut.Store(-1)
	for i, a := range spec.Actions {
		rs.actions = append(rs.actions, newActionState(i, a))
	}
	return rs
}

func compactJSON(b []byte) json.RawMessage {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return append(json.RawMessage(nil), b...)
	}
	return out.Bytes()
}

// stripInvalid drops rules' "invalid rule: " lead so the message starts with what is wrong;
// ErrInvalid says it was invalid.
func stripInvalid(err error) error {
	if !errors.Is(err, rules.ErrInvalidRule) {
		return err
	}
	return errors.New(strings.TrimPrefix(err.Error(), rules.ErrInvalidRule.Error()+": "))
}

// stripRulePrefix drops the "rule NAME: " that Compile adds, so a SQL error starts with its
// position ("line 1, column 8: ...").
func stripRulePrefix(err error, id string) error {
	msg, ok := strings.CutPrefix(err.Error(), "rule "+id+": ")
	if !ok {
		return err
	}
	return errors.New(msg)
}

// supported refuses the action kinds this node cannot deliver yet, at creation, rather than
// failing every result later.
func (rt *Runtime) supported(spec *rules.RuleSpec) error {
	for i, a := range spec.Actions {
		switch {
		case a.Object != nil && rt.o.Objects == nil:
			return fmt.Errorf("actions[%d]: this node has no object store for the object action", i)
		case a.Stream != nil && rt.o.Streams == nil:
			return fmt.Errorf("actions[%d]: this node has no stream logs for the stream action", i)
		case a.MQTT != nil && a.MQTT.Server != "":
			return fmt.Errorf("actions[%d].mqtt: server %q: publishing to another broker is not supported yet; leave server out to publish on this node's broker", i, a.MQTT.Server)
		}
	}
	return nil
}

func (rt *Runtime) get(name string) (*ruleState, error) {
	rs, ok := rt.rules[name]
	if !ok {
		return nil, fmt.Errorf("rule %s: %w", name, ErrNotFound)
	}
	return rs, nil
}

// Delete stops a rule and removes it with its checkpoint and undelivered webhooks; every node
// learns it through the rules mesh table (a tombstone).
func (rt *Runtime) Delete(name string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rs, err := rt.get(name)
	if err != nil {
		return err
	}
	rs.stop()
	if err := rt.o.Checkpoints.Delete(rt.ctx, name); err != nil {
		return fmt.Errorf("delete rule %s checkpoint: %w", name, err)
	}
	rec := ruleRecord{Deleted: true}
	rt.stampRule(name, &rec)
	if err := rt.dropRuleLocked(name, rec); err != nil {
		return err
	}
	rt.broadcastRule(name, rec)
	return nil
}

// dropRuleLocked removes a rule that is stopped, keeping its tombstone.
func (rt *Runtime) dropRuleLocked(name string, tomb ruleRecord) error {
	if rs, ok := rt.rules[name]; ok {
		rs.stopDrain()
	}
	if err := rt.saveRule(name, tomb); err != nil {
		return err
	}
	if err := delPrefix(rt.o.DB, outboxRulePrefix(name), syncWrites); err != nil {
		return fmt.Errorf("delete rule %s outbox: %w", name, err)
	}
	delete(rt.rules, name)
	return nil
}

// Stop stops a rule (checkpointing it); it stays stopped across restarts until Start.
func (rt *Runtime) Stop(name string) (RuleInfo, error) {
	return rt.setStopped(name, true)
}

// Start starts a stopped or failed rule.
func (rt *Runtime) Start(name string) (RuleInfo, error) {
	return rt.setStopped(name, false)
}

func (rt *Runtime) setStopped(name string, stopped bool) (RuleInfo, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rs, err := rt.get(name)
	if err != nil {
		return RuleInfo{}, err
	}
	rec := ruleRecord{Def: rs.def, Stopped: stopped}
	rt.stampRule(name, &rec)
	if err := rt.saveRule(name, rec); err != nil {
		return RuleInfo{}, err
	}
	rs.mu.Lock()
	rs.stopped = stopped
	rs.mu.Unlock()
	rt.ensureLocked(rs, true)
	rt.broadcastRule(name, rec)
	return rs.info(), nil
}

func (rt *Runtime) loadRules() error {
	return scan(rt.o.DB, []byte{tagRule, subDef}, func(k, v []byte) error {
		name := string(k[2:])
		var rec ruleRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("load rule %s: %w", name, err)
		}
		rt.ruleRecs[name] = rec
		if rec.Deleted {
			return nil
		}
		rt.mu.Lock()
		rt.installLocked(name, rec, true)
		rt.mu.Unlock()
		return nil
	})
}

// installLocked makes a stored definition the rule's (replacing a running one) and starts it
// where it should run.
func (rt *Runtime) installLocked(name string, rec ruleRecord, opening bool) {
	if old, ok := rt.rules[name]; ok {
		old.stop()
	}
	spec, err := rules.ParseRule(rec.Def, name)
	if err != nil {
		// Keep it listed, failed, so that the operator sees it and can delete it.
		rt.log.Error("stored rule no longer loads", "rule", name, "err", err)
		rs := rt.newState(&rules.RuleSpec{ID: name}, rec.Def, rec.Stopped)
		rs.failure = err.Error()
		rt.rules[name] = rs
		return
	}
	rs := rt.newState(spec, rec.Def, rec.Stopped)
	if opening && rt.o.Owner != nil {
		// A node that restarts does not know yet whether another node of its site took its
		// rules over meanwhile (gossip has not settled): it waits as for a takeover.
		rs.notBefore = time.Now().Add(rt.o.HandoffDelay)
	}
	rt.rules[name] = rs
	rt.ensureLocked(rs, true)
}
