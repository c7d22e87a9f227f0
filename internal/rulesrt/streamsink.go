package rulesrt

import (
	"github.com/minicloud/minicloud/internal/rules"
)

// streamSink appends results to a persisted stream's log. The append is durable when it returns
// (the stream's own sync policy), so a result counted as sent is in the log; the stream then
// forwards and archives it like any message published on this node.
type streamSink struct {
	log   StreamLog
	name  string
	topic string
	st    *actionState
}

func (s *streamSink) deliver(ps []rules.Payload) {
	bodies := make([][]byte, len(ps))
	for i, p := range ps {
		bodies[i] = p.Body
	}
	if err := s.log.AppendTo(s.name, s.topic, bodies); err != nil {
		s.st.fail(err)
		s.st.dropped.Add(int64(len(ps)))
		return
	}
	s.st.sent.Add(int64(len(ps)))
}
