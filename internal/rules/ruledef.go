package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/rules/sql"
)

// ErrInvalidRule wraps every validation error of a rule definition.
var ErrInvalidRule = errors.New("invalid rule")

// RuleSpec is a rule definition in eKuiper's JSON shape:
//
//	{"id": "r1", "sql": "SELECT ...", "actions": [{"mqtt": {"topic": "alerts"}}], "options": {...}}
type RuleSpec struct {
	ID      string      `json:"id,omitempty"`
	Name    string      `json:"name,omitempty"`
	SQL     string      `json:"sql"`
	Actions []*Action   `json:"actions"`
	Options RuleOptions `json:"options"`
}

// RuleOptions are eKuiper's rule options that minicloud knows. Durations are milliseconds in JSON.
type RuleOptions struct {
	IsEventTime        *bool          `json:"isEventTime,omitempty"`
	LateTolerance      int64          `json:"lateTolerance,omitempty"`
	Qos                int            `json:"qos,omitempty"`
	CheckpointInterval int64          `json:"checkpointInterval,omitempty"`
	SendMetaToSink     bool           `json:"sendMetaToSink,omitempty"`
	SendError          *bool          `json:"sendError,omitempty"`
	BufferLength       int            `json:"bufferLength,omitempty"`
	Concurrency        int            `json:"concurrency,omitempty"`
	RestartStrategy    map[string]any `json:"restartStrategy,omitempty"`
	Sites              []string       `json:"sites,omitempty"` // minicloud: where the rule runs
}

var knownOptions = []string{"isEventTime", "lateTolerance", "qos", "checkpointInterval", "sendMetaToSink",
	"sendError", "bufferLength", "concurrency", "restartStrategy", "sites"}

var ruleIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// ParseRule decodes and validates a rule definition. The id may also come from the command line
// (minicloud rule create NAME): pass it as id, and it must then match any id in the JSON.
func ParseRule(data []byte, id string) (*RuleSpec, error) {
	var spec RuleSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidRule, jsonMessage(err))
	}
	if id != "" {
		if spec.ID != "" && spec.ID != id {
			return nil, fmt.Errorf("%w: id %q in the JSON differs from the rule name %q", ErrInvalidRule, spec.ID, id)
		}
		spec.ID = id
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return &spec, nil
}

// jsonMessage turns decoding errors into something that names the field.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s (the top level has id, name, sql, actions and options; known options: %s)", f, strings.Join(knownOptions, ", "))
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64":
		return "a whole number"
	case "bool", "ptr":
		return "true or false"
	case "slice":
		return "a list"
	case "map", "struct":
		return "an object"
	}
	return "a " + kind
}

// Validate checks the definition without compiling it against streams: the id, the SQL's syntax,
// the actions and the options.
func (s *RuleSpec) Validate() error {
	if s.ID == "" || !ruleIDPattern.MatchString(s.ID) {
		return fmt.Errorf("%w: id %q must be 1 to 128 letters, digits, '_', '-' or '.'", ErrInvalidRule, s.ID)
	}
	if strings.TrimSpace(s.SQL) == "" {
		return fmt.Errorf("%w: rule %s has no sql", ErrInvalidRule, s.ID)
	}
	if _, err := sql.ParseSelect(s.SQL); err != nil {
		return fmt.Errorf("%w: rule %s: sql: %w", ErrInvalidRule, s.ID, err)
	}
	if len(s.Actions) == 0 {
		return fmt.Errorf(`%w: rule %s has no actions: add one, e.g. "actions": [{"log": {}}]`, ErrInvalidRule, s.ID)
	}
	for i, a := range s.Actions {
		if a == nil {
			return fmt.Errorf("%w: rule %s: actions[%d] is null", ErrInvalidRule, s.ID, i)
		}
		if err := a.validate(); err != nil {
			return fmt.Errorf("%w: rule %s: actions[%d].%s: %w", ErrInvalidRule, s.ID, i, a.Kind, err)
		}
	}
	return s.Options.validate(s.ID)
}

func (o *RuleOptions) validate(id string) error {
	switch {
	case o.LateTolerance < 0:
		return fmt.Errorf("%w: rule %s: options.lateTolerance must not be negative", ErrInvalidRule, id)
	case o.Qos < 0 || o.Qos > 2:
		return fmt.Errorf("%w: rule %s: options.qos must be 0, 1 or 2", ErrInvalidRule, id)
	case o.CheckpointInterval < 0 || o.BufferLength < 0 || o.Concurrency < 0:
		return fmt.Errorf("%w: rule %s: options must not be negative", ErrInvalidRule, id)
	}
	return nil
}

// EngineOptions turns the rule's options into Compile's.
func (s *RuleSpec) EngineOptions(clk Clock) Options {
	return Options{
		ID:            s.ID,
		Clock:         clk,
		IsEventTime:   s.Options.IsEventTime,
		LateTolerance: time.Duration(s.Options.LateTolerance) * time.Millisecond,
	}
}

// Compile compiles the rule's SQL against the streams.
func (s *RuleSpec) Compile(streams Streams, clk Clock) (*Rule, error) {
	r, err := Compile(s.SQL, streams, s.EngineOptions(clk))
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", s.ID, err)
	}
	return r, nil
}

func sortedActionKinds() []string {
	out := make([]string, 0, len(actionKinds))
	for k := range actionKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
