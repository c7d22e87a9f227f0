package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/stream"
)

// Catch-up of stream logs within the site (the logic is internal/stream/peersync.go): every
// catchUpEvery, and within half a second of a node coming back (the peer set refreshes that
// often), this node asks each other live node of the site for the messages that entered by it
// which this node's logs lack. When nothing is missing an answer is a few bytes: the asked node
// knows where its last Local entry is without reading its log. For each node that is down, it
// asks the live ones for their copies of what entered by that node (relayPath; the logic is
// internal/stream/relay.go), so that what W nodes acknowledged reaches every node even if the
// node it entered by never comes back.

// catchUpEvery is how often a node checks each peer's logs for what it missed, besides when the
// peer set changes: the longest a copy lost on the way (a full queue, a timed-out batch) stays
// missing while both nodes are up.
const catchUpEvery = time.Second

// catchUpPath serves a peer's catch-up: GET ?stream=NAME&from=OFFSET answers a stream.PeerBatch
// of this node's Local entries from OFFSET on, or an empty body when it has no such stream.
const catchUpPath = "/rpc/stream-since"

// relayPath serves a peer's relayed catch-up: GET ?stream&origin&after&pos&since answers a
// stream.PeerBatch of this node's copies of origin's entries (stream.Manager.OriginSince), or an
// empty body when it has no such stream.
const relayPath = "/rpc/stream-relay"

// catchUpLoop runs catch-up rounds until the replication stops.
func (r *streamRepl) catchUpLoop() {
	defer r.wg.Done()
	t := time.NewTicker(catchUpEvery)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		m := r.n.streams.manager()
		if m == nil {
			continue
		}
		peers := *r.peers.Load()
		live := map[string]bool{r.n.id: true}
		for _, p := range peers {
			live[p.id] = true
			if err := m.CatchUp(r.ctx, p.id, r.fetcher(p.addr)); err != nil && r.ctx.Err() == nil {
				r.n.log.Debug("stream catch-up from a peer failed; will retry", "peer", p.id, "err", err)
			}
		}
		for _, origin := range m.Origins() {
			if live[origin] {
				continue
			}
			for _, p := range peers {
				if err := m.CatchUpVia(r.ctx, origin, p.id, r.relayFetcher(p.addr)); err != nil && r.ctx.Err() == nil {
					r.n.log.Debug("stream catch-up through a peer failed; will retry", "origin", origin, "peer", p.id, "err", err)
				}
			}
		}
	}
}

// fetcher asks the node at addr for its Local entries of a stream.
func (r *streamRepl) fetcher(addr string) stream.Fetch {
	return func(ctx context.Context, name string, from uint64) (stream.PeerBatch, error) {
		q := url.Values{"stream": {name}, "from": {strconv.FormatUint(from, 10)}}
		return r.getBatch(ctx, addr, catchUpPath, q, fmt.Sprintf("stream %s from %d", name, from))
	}
}

// relayFetcher asks the node at addr for its copies of another node's entries.
func (r *streamRepl) relayFetcher(addr string) stream.RelayFetch {
	return func(ctx context.Context, name, origin string, after, pos uint64, since time.Time) (stream.PeerBatch, error) {
		q := url.Values{"stream": {name}, "origin": {origin}, "after": {strconv.FormatUint(after, 10)},
			"pos": {strconv.FormatUint(pos, 10)}, "since": {strconv.FormatInt(since.UnixNano(), 10)}}
		return r.getBatch(ctx, addr, relayPath, q, fmt.Sprintf("stream %s of %s", name, origin))
	}
}

// getBatch asks the node at addr for a batch of stream entries (what names it in errors); an
// empty answer means the node has no such stream.
func (r *streamRepl) getBatch(ctx context.Context, addr, path string, q url.Values, what string) (stream.PeerBatch, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var body []byte
	if err := r.client.Get(ctx, addr, path+"?"+q.Encode(), &body); err != nil {
		return stream.PeerBatch{}, fmt.Errorf("ask for %s: %w", what, err)
	}
	if len(body) == 0 {
		return stream.PeerBatch{}, fmt.Errorf("ask for %s: %w", what, stream.ErrNotFound)
	}
	return stream.DecodePeerBatch(body)
}

func (r *streamRepl) serveRelay(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	after, err1 := strconv.ParseUint(q.Get("after"), 10, 64)
	pos, err2 := strconv.ParseUint(q.Get("pos"), 10, 64)
	since, err3 := strconv.ParseInt(q.Get("since"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || q.Get("origin") == "" {
		http.Error(w, "want stream, origin, after, pos and since", http.StatusBadRequest)
		return
	}
	m := r.n.streams.manager()
	if m == nil {
		http.Error(w, "stream relay: no stream manager", http.StatusServiceUnavailable)
		return
	}
	b, err := m.OriginSince(q.Get("stream"), q.Get("origin"), after, pos, time.Unix(0, since))
	writePeerBatch(w, b, err)
}

func (r *streamRepl) serveCatchUp(w http.ResponseWriter, req *http.Request) {
	from, err := strconv.ParseUint(req.URL.Query().Get("from"), 10, 64)
	if err != nil {
		http.Error(w, "want stream and from (an offset)", http.StatusBadRequest)
		return
	}
	m := r.n.streams.manager()
	if m == nil {
		http.Error(w, "stream catch-up: no stream manager", http.StatusServiceUnavailable)
		return
	}
	b, err := m.LocalSince(req.URL.Query().Get("stream"), from)
	writePeerBatch(w, b, err)
}

// writePeerBatch answers a catch-up or relay request with b, or with what err says.
func writePeerBatch(w http.ResponseWriter, b stream.PeerBatch, err error) {
	if errors.Is(err, stream.ErrNotFound) {
		w.WriteHeader(http.StatusOK) // an empty body: no such stream here (yet)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(stream.AppendPeerBatch(nil, &b))
}
