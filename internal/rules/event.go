package rules

import "time"

// Event is one message of a stream: its arrival time, topic and JSON-decoded payload. Process
// takes ownership of Data: the caller must not change it afterwards (rows may share its values).
// Time is for the caller's bookkeeping: processing-time windows use the rule's Clock when Process
// runs, so that an event can never land in a window that Advance has already closed; event-time
// windows use the stream's TIMESTAMP field.
type Event struct {
	Time  time.Time
	Topic string
	Data  map[string]any
}

// Row is one result of a rule: column name to value.
type Row map[string]any

// Clock tells a rule the time. internal/clock's Real and Fake satisfy it.
type Clock interface {
	Now() time.Time
}
