package stream

import (
	"errors"
	"fmt"
)

// AppendTo appends payloads as Local messages on topic to the named stream's log, whatever the
// stream's topic filters, and waits until they are durable under the stream's sync policy. It is
// how a rule's stream action writes its results (internal/rulesrt); the messages are then
// forwarded and archived like any published on this node. (Added for the rules runtime; the
// broker's path stays Record.)
func (m *Manager) AppendTo(name, topic string, payloads [][]byte) error {
	if topic == "" {
		return errors.New("append to stream: empty topic")
	}
	l, err := m.logOf(name)
	if err != nil {
		return err
	}
	es := make([]Entry, len(payloads))
	for i, p := range payloads {
		es[i] = Entry{Kind: Local, Topic: topic, Payload: p}
	}
	_, c, err := l.Append(es...)
	if err != nil {
		return fmt.Errorf("append to stream %s: %w", name, err)
	}
	if err := c.Wait(); err != nil {
		return fmt.Errorf("append to stream %s: %w", name, err)
	}
	return nil
}
