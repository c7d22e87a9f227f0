// Package rulesrt runs the streaming SQL rules of internal/rules on a node: it keeps the stream
// and rule definitions in the metastore, feeds each running rule the messages of its stream's
// topic filter from the broker on a goroutine of the rule's own, drives its windows' timers,
// checkpoints its state, and delivers its results to its actions (MQTT publish, a webhook fed
// from a durable outbox, the log). A rule that fails stops alone; the others run on.
//
// It owns every goroutine it starts: Close stops them all. It does not parse SQL or evaluate
// rows itself (internal/rules does), nor speak MQTT (the Broker does).
package rulesrt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/rules"
)

// Broker is what rules need of the node's MQTT broker.
type Broker interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
	Subscribe(filter string, fn func(topic string, payload []byte)) (unsubscribe func(), err error)
}

// Objects is what the object action needs of the node's S3-facing store: a PUT that replicates
// like any client's (internal/replicate.Store through an adapter in internal/node).
type Objects interface {
	PutObject(ctx context.Context, bucket, key string, body []byte, contentType string) error
}

// StreamLog is what the stream action needs of the node's stream logs (internal/stream).
type StreamLog interface {
	// AppendTo appends messages on topic to the named persisted stream and waits until they are
	// durable.
	AppendTo(name, topic string, payloads [][]byte) error
}

// Options configure a Runtime.
type Options struct {
	DB     *metastore.DB // required: definitions, checkpoints and the webhook outbox
	Broker Broker        // required
	NodeID string        // names the objects this node writes (object action); "" is "node"
	// Objects and Streams deliver the object and stream actions; nil refuses those actions.
	Objects Objects
	Streams StreamLog
	// Logs, if set, lets rules read persisted streams through their logs (resuming after a
	// restart from the checkpointed offsets); without it rules read live broker messages.
	Logs Logs
	// Checkpoints stores rule checkpoints; nil keeps them in DB.
	Checkpoints Checkpoints
	// Owner tells where a rule runs: here true when this node should run it now, else owner
	// names the node of this site that does ("" when the rule does not run on this site).
	// nil: every rule runs here (a node that runs alone).
	Owner func(spec *rules.RuleSpec, stream string) (owner string, here bool)
	// Alive tells whether a node is up (nil: always): a takeover from a dead owner need not wait.
	Alive func(id string) bool
	// OnChange is told of every row of the rules table this node changes (to gossip it).
	OnChange func(TableRow)
	// ReconcileEvery is how often ownership is checked again.
	ReconcileEvery time.Duration
	// HandoffDelay is how long a node that becomes a rule's owner while another node may still
	// run it (or that just started) waits before starting it.
	HandoffDelay time.Duration
	Clock        rules.Clock // nil: the wall clock
	Logger       *slog.Logger
	// HTTPClient sends webhooks; nil uses one without a global timeout (each action has its own).
	HTTPClient *http.Client

	// CheckpointInterval is how often a running rule's state is saved (and always when it stops),
	// unless the rule's own checkpointInterval option says otherwise.
	CheckpointInterval time.Duration
	// QueueLength is how many events may wait for one rule.
	QueueLength int
	// EnqueueWait is how long a publisher waits for room in a full rule queue before the event is
	// dropped (and counted): backpressure first, then visible loss, never a stuck broker.
	EnqueueWait time.Duration
	// RetryMin and RetryMax bound the exponential backoff between webhook attempts.
	RetryMin, RetryMax time.Duration
	// WebhookTimeout applies to webhook actions that set no timeout of their own.
	WebhookTimeout time.Duration
}

// DefaultOptions returns the options a node runs with; DB and Broker are still to be set.
func DefaultOptions() Options {
	return Options{
		CheckpointInterval: 10 * time.Second, // a restart replays at most this much of a window's input loss
		QueueLength:        1024,             // about 10 ms of input at 100k events/s; 80 KiB a rule
		EnqueueWait:        time.Second,
		RetryMin:           500 * time.Millisecond,
		RetryMax:           30 * time.Second, // a target back from an outage gets its backlog within 30 s
		WebhookTimeout:     5 * time.Second,
		ReconcileEvery:     time.Second, // a rule moves about this long after its node is declared dead
		HandoffDelay:       3 * time.Second,
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.DB == nil || o.Broker == nil:
		return errors.New("rulesrt: DB and Broker are required")
	case o.CheckpointInterval <= 0 || o.QueueLength <= 0 || o.EnqueueWait <= 0:
		return errors.New("rulesrt: CheckpointInterval, QueueLength and EnqueueWait must be positive")
	case o.RetryMin <= 0 || o.RetryMax < o.RetryMin || o.WebhookTimeout <= 0:
		return errors.New("rulesrt: need 0 < RetryMin <= RetryMax and a positive WebhookTimeout")
	}
	return nil
}

// Sentinel errors; the admin API maps them to statuses.
var (
	ErrNotFound = errors.New("no such rule")
	ErrExists   = errors.New("rule already exists")
	ErrInvalid  = errors.New("invalid")       // bad SQL, rule JSON or action: the message says what
	ErrInUse    = errors.New("stream in use") // DROP STREAM of a stream that rules read
)

// invalid marks a user error without changing its text, so that "line 1, column 1: ..." stays
// the first thing a person reads.
type invalid struct{ err error }

func (e invalid) Error() string   { return e.err.Error() }
func (e invalid) Unwrap() []error { return []error{ErrInvalid, e.err} }
func badInput(err error) error    { return invalid{err} }

// Runtime holds the streams and rules of a node.
type Runtime struct {
	o   Options
	log *slog.Logger
	cat *rules.Catalog

	mu         sync.Mutex // guards rules, the records and every rule's start and stop
	rules      map[string]*ruleState
	ruleRecs   map[string]ruleRecord   // every rule row, tombstones included
	streamRecs map[string]streamRecord // every stream row, tombstones included

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every rule's goroutines
}

// Open loads the stored streams and rules and starts the rules that were running.
func Open(o Options) (*Runtime, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Checkpoints == nil {
		o.Checkpoints = localCheckpoints{o.DB}
	}
	if o.ReconcileEvery <= 0 {
		o.ReconcileEvery = time.Second
	}
	rt := &Runtime{o: o, log: o.Logger, cat: rules.NewCatalog(), rules: map[string]*ruleState{},
		ruleRecs: map[string]ruleRecord{}, streamRecs: map[string]streamRecord{}}
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	if err := rt.loadStreams(); err != nil {
		return nil, err
	}
	if err := rt.loadRules(); err != nil {
		rt.Close()
		return nil, err
	}
	rt.wg.Add(1)
	go func() { defer rt.wg.Done(); rt.reconcile() }()
	return rt, nil
}

// Close stops every rule (checkpointing each) and waits for their goroutines.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	rt.cancel() // first, so that Reconcile starts nothing more
	for _, rs := range rt.rules {
		rs.stop()
	}
	rt.mu.Unlock()
	rt.wg.Wait()
}

// List returns every rule, by name.
func (rt *Runtime) List() []RuleInfo {
	rt.mu.Lock()
	names := make([]string, 0, len(rt.rules))
	for n := range rt.rules {
		names = append(names, n)
	}
	rt.mu.Unlock()
	sort.Strings(names)
	out := make([]RuleInfo, 0, len(names))
	for _, n := range names {
		if info, err := rt.Describe(n); err == nil {
			info.Definition = nil
			out = append(out, info)
		}
	}
	return out
}

// Describe returns one rule with its counters.
func (rt *Runtime) Describe(name string) (RuleInfo, error) {
	rt.mu.Lock()
	rs, ok := rt.rules[name]
	rt.mu.Unlock()
	if !ok {
		return RuleInfo{}, fmt.Errorf("rule %s: %w", name, ErrNotFound)
	}
	return rs.info(), nil
}
