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
// knows where its last Local entry is without reading its log.

// catchUpEvery is how often a node checks each peer's logs for what it missed, besides when the
// peer set changes: the longest a copy lost on the way (a full queue, a timed-out batch) stays
// missing while both nodes are up.
const catchUpEvery = time.Second

// catchUpPath serves a peer's catch-up: GET ?stream=NAME&from=OFFSET answers a stream.PeerBatch
// of this node's Local entries from OFFSET on, or an empty body when it has no such stream.
const catchUpPath = "/rpc/stream-since"

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
		for _, p := range *r.peers.Load() {
			if err := m.CatchUp(r.ctx, p.id, r.fetcher(p.addr)); err != nil && r.ctx.Err() == nil {
				r.n.log.Debug("stream catch-up from a peer failed; will retry", "peer", p.id, "err", err)
			}
		}
	}
}

// fetcher asks the node at addr for its Local entries of a stream.
func (r *streamRepl) fetcher(addr string) stream.Fetch {
	return func(ctx context.Context, name string, from uint64) (stream.PeerBatch, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		q := url.Values{"stream": {name}, "from": {strconv.FormatUint(from, 10)}}
		var body []byte
		if err := r.client.Get(ctx, addr, catchUpPath+"?"+q.Encode(), &body); err != nil {
			return stream.PeerBatch{}, fmt.Errorf("ask for stream %s from %d: %w", name, from, err)
		}
		if len(body) == 0 {
			return stream.PeerBatch{}, fmt.Errorf("ask for stream %s: %w", name, stream.ErrNotFound)
		}
		return stream.DecodePeerBatch(body)
	}
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
