package replicate

import (
	"context"
	"net/http"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Seams for running a site in one process (internal/testcluster): RPC goes through any
// http.RoundTripper to a Server's handler without sockets or TLS, and the background loops' work
// can be run on a test's schedule instead of on wall-clock tickers. Production code uses
// NewServer, NewClient and Start.

// NewClientTransport returns a Client whose requests go through rt, e.g. an in-memory network
// that routes by address to Server handlers. The timeout matches NewClient's.
func NewClientTransport(rt http.RoundTripper) *Client {
	return &Client{http: &http.Client{Transport: rt, Timeout: 60 * time.Second}}
}

// NewHandlerServer returns a Server that answers through Handler only: it has no listener, so
// Addr and Serve must not be called; Close is a no-op.
func NewHandlerServer(local *object.Store) *Server {
	s := newServer(local)
	s.srv = &http.Server{Handler: s.Mux} // never served; lets Close work
	return s
}

// Handler is the Server's RPC handler (its Mux, extra routes included).
func (s *Server) Handler() http.Handler { return s.Mux }

// DeliverHintsNow runs one round of hinted handoff, as the hint loop does every few seconds.
func (s *Store) DeliverHintsNow() { s.deliverHints() }

// AntiEntropyNow runs one anti-entropy round with every live peer, as the anti-entropy loop does
// on its schedule. It needs a Cluster.
func (s *Store) AntiEntropyNow(ctx context.Context) { s.antiEntropyRound(ctx) }
