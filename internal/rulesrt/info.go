package rulesrt

import (
	"encoding/json"
	"time"
)

// RuleInfo is a rule as the admin API shows it.
type RuleInfo struct {
	Name    string       `json:"name"`
	Status  string       `json:"status"`          // running, stopped or failed
	Error   string       `json:"error,omitempty"` // why it is not running
	Owner   string       `json:"owner,omitempty"` // standby: the node of this site that runs it
	SQL     string       `json:"sql"`
	Stream  string       `json:"stream,omitempty"`
	Topic   string       `json:"topic,omitempty"` // the stream's DATASOURCE filter
	Input   string       `json:"input,omitempty"` // "broker" (live messages) or "stream log NAME"
	Stats   RuleStats    `json:"stats"`
	Actions []ActionInfo `json:"actions"`
	// Definition is the rule JSON as created (Describe only).
	Definition json.RawMessage `json:"definition,omitempty"`
}

// Rule statuses.
const (
	StatusRunning = "running"
	StatusStopped = "stopped"
	StatusFailed  = "failed"
	// StatusStandby: another node of the site runs it (Owner), or none of this site does
	// (its sites option leaves this site out).
	StatusStandby = "standby"
)

// RuleStats are a rule's counters since it was created (restored from its checkpoint).
type RuleStats struct {
	In           int64  `json:"in"`           // events processed
	Out          int64  `json:"out"`          // result rows
	Late         int64  `json:"late"`         // events behind the watermark, dropped
	Errors       int64  `json:"errors"`       // events or groups that failed to evaluate
	DecodeErrors int64  `json:"decodeErrors"` // messages that were not JSON objects (since start)
	Dropped      int64  `json:"dropped"`      // events dropped because the rule could not keep up (since start)
	LastError    string `json:"lastError,omitempty"`
	// CheckpointedOut is Out as of the last checkpoint this node saved (-1: none since start).
	CheckpointedOut int64 `json:"checkpointedOut"`
}

// ActionInfo is one action with its delivery counters (since the rule started).
type ActionInfo struct {
	Kind        string     `json:"kind"`
	Target      string     `json:"target,omitempty"` // topic or URL
	Sent        int64      `json:"sent"`             // payloads delivered
	Failed      int64      `json:"failed"`           // failed attempts (a webhook retries)
	Dropped     int64      `json:"dropped"`          // payloads given up (a webhook answering 4xx)
	Pending     int64      `json:"pending"`          // payloads in the webhook outbox
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}
