package replicate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/object"
)

// The data RPC between nodes: HTTP over mutual TLS (see mesh.TLSConfigs), one small endpoint per
// replica operation. Bodies are JSON except chunk data, which is raw.

const maxRPCBody = 8 << 20

// Server answers other nodes' replica requests from the local object store.
type Server struct {
	local *object.Store
	srv   *http.Server
	ln    net.Listener
	// Extra routes (e.g. MQTT forwarding) may be added before Serve.
	Mux *http.ServeMux
	// Apply commits a change shipped from another site on this site's replicas.
	Apply func(object.RecordMsg) error
	ops   map[string]opFunc // binary operations (ops.go)
	// grants is this node's lease grantor (lease.go): it exists as soon as the server does, so
	// that every merge this node acknowledges is logged and noted, before and after the
	// replication layer attaches itself (site, see Store.ServeLeases).
	grants *grantor
	site   atomic.Pointer[Store]
	fs     *frameServer // nil without a listener (listener.go)
}

// NewServer listens on addr with TLS; the address actually bound is Addr().
func NewServer(addr string, tlsCfg *tls.Config, local *object.Store) (*Server, error) {
	ln, err := tls.Listen("tcp", addr, serverTLS(tlsCfg))
	if err != nil {
		return nil, fmt.Errorf("listen for mesh RPC on %s: %w", addr, err)
	}
	s := newServer(local)
	s.ln = ln
	s.srv = &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	s.fs = &frameServer{httpLn: newHTTPListener(ln.Addr()), ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	return s, nil
}

// newServer builds a Server's routes without a listener (NewServer adds one; tests route to
// Handler through an in-memory network).
func newServer(local *object.Store) *Server {
	s := &Server{local: local, Mux: http.NewServeMux(), grants: newGrantor(nil)}
	s.Mux.HandleFunc("POST /rpc/merge", s.merge)
	s.Mux.HandleFunc("PUT /rpc/chunk/{id}", s.putChunk)
	s.Mux.HandleFunc("GET /rpc/chunk/{id}", s.getChunk)
	s.Mux.HandleFunc("POST /rpc/missing", s.missing)
	s.Mux.HandleFunc("GET /rpc/key", s.key)
	s.Mux.HandleFunc("GET /rpc/list", s.list)
	s.registerAntiEntropy() // antientropy.go
	s.Mux.HandleFunc("POST /rpc/apply", s.apply)
	s.Mux.HandleFunc("POST /rpc/hint", s.hint)
	s.registerGeo() // feed.go
	s.registerOps()
	return s
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Close: framed connections itself, HTTP ones through the http.Server.
func (s *Server) Serve() error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.fs.httpLn) }()
	err := s.acceptLoop()
	if herr := <-errc; err == nil && !errors.Is(herr, http.ErrServerClosed) && !errors.Is(herr, net.ErrClosed) {
		err = herr
	}
	return err
}

// Close stops the server.
func (s *Server) Close() error {
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	s.closeFrames()
	return errors.Join(err, s.srv.Close())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, maxRPCBody)).Decode(v)
}

type missingResp struct {
	Missing []string `json:"missing"`
}

func (s *Server) merge(w http.ResponseWriter, r *http.Request) {
	var m object.RecordMsg
	if err := readJSON(r, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	changed, err := s.local.MergeRecord(m)
	if err == nil {
		s.grants.merged(m, changed) // logged for lease holders (lease.go); this route carries no note
	}
	if err != nil {
		if errors.Is(err, object.ErrMissingChunks) {
			refs, _ := m.Chunks()
			var miss []string
			for _, c := range refs {
				if !s.local.HasChunk(c.ID) {
					miss = append(miss, c.ID)
				}
			}
			writeJSON(w, http.StatusConflict, missingResp{Missing: miss})
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRPCBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != r.PathValue("id") {
		http.Error(w, "chunk content does not match its id", http.StatusBadRequest)
		return
	}
	if _, err := s.local.PutChunk(data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getChunk(w http.ResponseWriter, r *http.Request) {
	size, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	crc, _ := strconv.ParseUint(r.URL.Query().Get("crc"), 10, 32)
	data, err := s.local.ReadChunk(blobstore.Ref{ID: r.PathValue("id"), Size: size, CRC: uint32(crc)})
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, blobstore.ErrMissing) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func (s *Server) missing(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if err := readJSON(r, &ids); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var miss []string
	for _, id := range ids {
		if !s.local.HasChunk(id) {
			miss = append(miss, id)
		}
	}
	writeJSON(w, http.StatusOK, missingResp{Missing: miss})
}

func (s *Server) key(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	msgs, err := s.local.KeyRecords(q.Get("bucket"), q.Get("key"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, msgs)
}

type listResp struct {
	Entries   []object.RecordMsg `json:"entries"`
	Truncated bool               `json:"truncated"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	msgs, trunc, err := s.local.ListLatest(q.Get("bucket"), q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		writeObjErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, listResp{Entries: msgs, Truncated: trunc})
}

// writeObjErr sends an object-layer error so the client can rebuild it (NoSuchBucket matters:
// a node that has not yet learnt of a new bucket).
func writeObjErr(w http.ResponseWriter, err error) {
	if errors.Is(err, object.ErrNoSuchBucket) {
		http.Error(w, "NoSuchBucket", http.StatusNotFound)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// Client calls a peer's Server.
type Client struct {
	http   *http.Client
	frames *frameConns // the binary operations' framed connections; nil: over HTTP
}

// NewClient returns a client using the mesh TLS identity.
func NewClient(tlsCfg *tls.Config) *Client {
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, frames: newFrameConns(tlsCfg)}
}

// Close closes the client's connections.
func (c *Client) Close() {
	if c.frames != nil {
		c.frames.close()
	}
	c.http.CloseIdleConnections()
}

// errStatus is a peer's non-success answer.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string { return fmt.Sprintf("peer answered %d: %s", e.code, e.body) }

func (c *Client) do(ctx context.Context, method, addr, path string, q url.Values, body []byte, out any) error {
	u := "https://" + addr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRPCBody+1))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &errStatus{code: resp.StatusCode, body: string(data)}
		if resp.StatusCode == http.StatusConflict && out != nil {
			json.Unmarshal(data, out)
		}
		return e
	}
	if out != nil {
		if b, ok := out.(*[]byte); ok {
			*b = data
			return nil
		}
		if len(data) > 0 {
			return json.Unmarshal(data, out)
		}
	}
	return nil
}

type chunkRef = blobstore.Ref

// sendWithChunks posts a record to path; when the peer answers that it lacks chunks, it ships
// them and tries once more.
func (c *Client) sendWithChunks(ctx context.Context, addr, path string, body []byte, m object.RecordMsg, getChunk func(blobstore.Ref) ([]byte, error)) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var miss missingResp
		err = c.do(ctx, "POST", addr, path, nil, body, &miss)
		var es *errStatus
		if err == nil || !errors.As(err, &es) || es.code != http.StatusConflict {
			return err
		}
		refs, _ := m.Chunks()
		byID := map[string]blobstore.Ref{}
		for _, r := range refs {
			byID[r.ID] = r
		}
		for _, id := range miss.Missing {
			data, err := getChunk(byID[id])
			if err != nil {
				return fmt.Errorf("read chunk %s to ship: %w", id, err)
			}
			if err := c.do(ctx, "PUT", addr, "/rpc/chunk/"+id, nil, data, nil); err != nil {
				return fmt.Errorf("ship chunk %s: %w", id, err)
			}
		}
	}
	return err
}

// Chunk reads a chunk from addr.
func (c *Client) Chunk(ctx context.Context, addr string, ref blobstore.Ref) ([]byte, error) {
	var data []byte
	q := url.Values{"size": {strconv.FormatInt(ref.Size, 10)}, "crc": {strconv.FormatUint(uint64(ref.CRC), 10)}}
	err := c.do(ctx, "GET", addr, "/rpc/chunk/"+ref.ID, q, nil, &data)
	return data, err
}

// Key reads every record of bucket/key from addr.
func (c *Client) Key(ctx context.Context, addr, bucket, key string) ([]object.RecordMsg, error) {
	var out []object.RecordMsg
	err := c.do(ctx, "GET", addr, "/rpc/key", url.Values{"bucket": {bucket}, "key": {key}}, nil, &out)
	return out, err
}

// listJSON is List over the JSON route, for a peer that does not have the binary op.
func (c *Client) listJSON(ctx context.Context, addr, bucket, prefix, after string, limit int) ([]object.RecordMsg, bool, error) {
	var out listResp
	q := url.Values{"bucket": {bucket}, "prefix": {prefix}, "after": {after}, "limit": {strconv.Itoa(limit)}}
	err := c.do(ctx, "GET", addr, "/rpc/list", q, nil, &out)
	var es *errStatus
	if errors.As(err, &es) && es.code == http.StatusNotFound {
		return nil, false, object.ErrNoSuchBucket
	}
	return out.Entries, out.Truncated, err
}

// Post sends a JSON body to path on addr (for other subsystems riding on the mesh RPC, such as
// MQTT forwarding).
func (c *Client) Post(ctx context.Context, addr, path string, body []byte) error {
	return c.do(ctx, "POST", addr, path, nil, body, nil)
}

// Get reads path on addr into *out (raw bytes).
func (c *Client) Get(ctx context.Context, addr, path string, out *[]byte) error {
	return c.do(ctx, "GET", addr, path, nil, nil, out)
}
