package rulesrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/rules"
)

func outboxRulePrefix(rule string) []byte {
	return append(append([]byte{tagRule, subOutbox}, rule...), 0)
}

func outboxPrefix(rule string, action int) []byte {
	return binary.BigEndian.AppendUint16(outboxRulePrefix(rule), uint16(action))
}

// outbox is the durable queue of one webhook action: a payload is on disk (fsynced) before the
// rule goes on, and leaves only once the target accepted it, so an alert outlives both the
// target's downtime and a restart of the node. Order is kept: the sender delivers oldest first.
type outbox struct {
	db     *metastore.DB
	prefix []byte
	notify chan struct{} // a token when something was put

	mu    sync.Mutex
	next  uint64 // sequence of the next put
	count int64  // entries when opened
}

type outboxEntry struct {
	key  []byte
	body []byte
}

func openOutbox(db *metastore.DB, rule string, action int) (*outbox, error) {
	ob := &outbox{db: db, prefix: outboxPrefix(rule, action), notify: make(chan struct{}, 1)}
	err := scan(db, ob.prefix, func(k, _ []byte) error {
		ob.count++
		if seq := binary.BigEndian.Uint64(k[len(k)-8:]); seq >= ob.next {
			ob.next = seq + 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	return ob, nil
}

func (ob *outbox) put(bodies [][]byte) error {
	ob.mu.Lock()
	b := ob.db.NewBatch()
	for _, body := range bodies {
		b.Set(binary.BigEndian.AppendUint64(append([]byte(nil), ob.prefix...), ob.next), body)
		ob.next++
	}
	err := b.Commit(true)
	b.Close()
	ob.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case ob.notify <- struct{}{}:
	default:
	}
	return nil
}

// peek returns up to n of the oldest entries.
func (ob *outbox) peek(n int) ([]outboxEntry, error) {
	var out []outboxEntry
	err := scan(ob.db, ob.prefix, func(k, v []byte) error {
		if len(out) == n {
			return errStop
		}
		out = append(out, outboxEntry{append([]byte(nil), k...), append([]byte(nil), v...)})
		return nil
	})
	if err == errStop {
		err = nil
	}
	return out, err
}

var errStop = fmt.Errorf("stop")

// remove deletes a delivered entry. Unsynced: after a crash it may be delivered again, which
// at-least-once allows, and a sync per webhook would cost more than the webhook.
func (ob *outbox) remove(key []byte) error { return del(ob.db, key, false) }

// sender delivers one webhook action's outbox, retrying with exponential backoff.
type sender struct {
	rt     *Runtime
	rule   string
	a      *rules.RESTAction
	ob     *outbox
	st     *actionState
	client *http.Client
}

func (rt *Runtime) newSender(rule string, a *rules.RESTAction, ob *outbox, st *actionState) *sender {
	return &sender{rt: rt, rule: rule, a: a, ob: ob, st: st, client: rt.o.HTTPClient}
}

func (s *sender) run(ctx context.Context) {
	backoff := s.rt.o.RetryMin
	for {
		batch, err := s.ob.peek(64)
		if err != nil {
			s.st.fail(fmt.Errorf("outbox: %w", err))
		}
		if len(batch) == 0 {
			var retry <-chan time.Time
			if err != nil { // an unreadable outbox is retried too
				retry = time.After(backoff)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.ob.notify:
			case <-retry:
			}
			continue
		}
		for _, e := range batch {
			err := s.send(ctx, e.body)
			if ctx.Err() != nil {
				return
			}
			if err == nil || isPermanent(err) {
				if rerr := s.ob.remove(e.key); rerr != nil {
					s.st.fail(fmt.Errorf("outbox: %w", rerr))
				}
				s.st.pending.Add(-1)
			}
			if err == nil {
				s.st.sent.Add(1)
				backoff = s.rt.o.RetryMin
				continue
			}
			s.st.fail(err)
			if isPermanent(err) {
				s.st.dropped.Add(1)
				s.rt.log.Warn("webhook refused a rule result; dropped", "rule", s.rule, "url", s.a.URL, "err", err)
				continue
			}
			s.rt.log.Debug("webhook failed; will retry", "rule", s.rule, "url", s.a.URL, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, s.rt.o.RetryMax)
			break // re-read the outbox from its oldest entry
		}
	}
}

// statusError is a webhook's non-2xx answer.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("webhook answered %d %s: %s", e.code, http.StatusText(e.code), e.body)
}

// isPermanent: a 4xx other than 408 (timeout) and 429 (slow down) will not change on retry.
func isPermanent(err error) bool {
	se, ok := err.(*statusError)
	return ok && se.code >= 400 && se.code < 500 && se.code != 408 && se.code != 429
}

func (s *sender) send(ctx context.Context, body []byte) error {
	timeout := s.rt.o.WebhookTimeout
	if s.a.Timeout > 0 {
		timeout = time.Duration(s.a.Timeout) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if s.a.Method != http.MethodGet {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, s.a.Method, s.a.URL, rd)
	if err != nil {
		return &statusError{code: 400, body: err.Error()} // a URL that cannot become a request never will
	}
	if s.a.BodyType == "text" {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "minicloud-rules")
	for k, v := range s.a.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", s.a.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{code: resp.StatusCode, body: string(bytes.TrimSpace(msg))}
	}
	return nil
}
