package node

import (
	"bytes"
	"context"
	"fmt"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

// rulesWiring gives the rules runtime the node's object store and stream logs (for the object
// and stream actions). Called from openEdge, after openStreams.
func (n *Node) rulesWiring(o *rulesrt.Options) {
	o.NodeID = n.id
	o.Objects = ruleObjects{n}
	o.Streams = ruleStreams{n}
	o.Logs = &rulesrt.StreamLogs{Manager: n.streams.manager, Self: n.id}
}

// ruleObjects writes a rule's object batches through the node's S3-facing store, so they
// replicate within the site, to other hosting sites and to the cloud like any client's PUT.
type ruleObjects struct{ n *Node }

func (r ruleObjects) PutObject(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	repl := r.n.repl
	if repl == nil {
		return fmt.Errorf("node is closing")
	}
	_, err := repl.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		object.PutOptions{Meta: object.Meta{ContentType: contentType}})
	return err
}

// ruleStreams appends a rule's results to a persisted stream's log on this node.
type ruleStreams struct{ n *Node }

func (r ruleStreams) AppendTo(name, topic string, payloads [][]byte) error {
	m := r.n.streams.manager()
	if m == nil {
		return fmt.Errorf("stream %s: this node's stream logs are closed", name)
	}
	return m.AppendTo(name, topic, payloads)
}
