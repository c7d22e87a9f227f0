// Package admin serves minicloud's authenticated admin HTTP API under /_minicloud/ on the S3 port:
// status, buckets, access keys and grants, metrics. The CLI and the console are its clients. It
// holds no state; it must not bypass the object layer or the key store.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// Prefix is the path prefix of everything this package serves. Bucket names cannot start with
// '_', so it never shadows a bucket.
const Prefix = "/_minicloud/"

// Keys is what the admin API needs of the access key store.
type Keys interface {
	IsAdmin(accessKey string) bool
	Secret(accessKey string) (string, bool)
	CreateKey(accessKey, name string, now time.Time) (iam.Key, error)
	DeleteKey(accessKey string) error
	Grant(accessKey, bucket, perm string) error
	List() []iam.Key
}

// Buckets is what the admin API needs of the object layer.
type Buckets interface {
	CreateBucket(ctx context.Context, name, location string) error
	DeleteBucket(ctx context.Context, name string) error
	ListBuckets(ctx context.Context) ([]object.Bucket, error)
}

// Options configures the handler.
type Options struct {
	Verifier *sigv4.Verifier
	Keys     Keys
	Buckets  Buckets
	Status   func(ctx context.Context) any // the node's status document
	Metrics  http.Handler                  // Prometheus exposition
	// Decommission removes a node from the layout (nil: a single node, nothing to remove).
	Decommission func(id string) error
	Rules        Rules   // streams and rules (nil: the routes are absent); see rules.go
	Streams      Streams // stream logs (nil: the routes are absent); see streams.go
	Logger       *slog.Logger
	Now          func() time.Time
}

type handler struct {
	o   Options
	mux *http.ServeMux
}

// New returns the admin API handler.
func New(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /_minicloud/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	h.mux.Handle("GET /_minicloud/metrics", h.auth(o.Metrics.ServeHTTP))
	h.mux.Handle("GET /_minicloud/admin/v1/status", h.auth(h.status))
	h.mux.Handle("GET /_minicloud/admin/v1/buckets", h.auth(h.listBuckets))
	h.mux.Handle("POST /_minicloud/admin/v1/buckets", h.auth(h.createBucket))
	h.mux.Handle("DELETE /_minicloud/admin/v1/buckets/{name}", h.auth(h.deleteBucket))
	h.mux.Handle("GET /_minicloud/admin/v1/keys", h.auth(h.listKeys))
	h.mux.Handle("POST /_minicloud/admin/v1/keys", h.auth(h.createKey))
	h.mux.Handle("DELETE /_minicloud/admin/v1/keys/{ak}", h.auth(h.deleteKey))
	h.mux.Handle("PUT /_minicloud/admin/v1/keys/{ak}/grants/{bucket}", h.auth(h.grant))
	h.mux.Handle("DELETE /_minicloud/admin/v1/keys/{ak}/grants/{bucket}", h.auth(h.revoke))
	h.mux.Handle("POST /_minicloud/admin/v1/nodes/{id}/decommission", h.auth(h.decommission))
	h.mux.Handle("POST /_minicloud/admin/v1/buckets/{name}/sync", h.auth(h.addSync))
	h.mux.Handle("PUT /_minicloud/admin/v1/buckets/{name}/sites", h.auth(h.setSites))
	h.registerRules()
	h.registerStreams()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// auth admits SigV4-signed requests (the CLI) and HTTP Basic (Prometheus scrapers) from keys
// with admin rights, and nothing else.
func (h *handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ak, secret, ok := r.BasicAuth(); ok {
			want, found := h.o.Keys.Secret(ak)
			if !found || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 || !h.o.Keys.IsAdmin(ak) {
				writeErr(w, http.StatusForbidden, "AccessDenied", "bad credentials or not an admin key")
				return
			}
			next(w, r)
			return
		}
		res, err := h.o.Verifier.Verify(r)
		if err != nil {
			e := s3err.As(err)
			writeErr(w, e.Status, e.Code, e.Message)
			return
		}
		if res.AccessKey == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="minicloud"`)
			writeErr(w, http.StatusUnauthorized, "AccessDenied", "the admin API needs a signed request (minicloud CLI) or HTTP Basic with an admin key")
			return
		}
		if !h.o.Keys.IsAdmin(res.AccessKey) {
			writeErr(w, http.StatusForbidden, "AccessDenied", "access key "+res.AccessKey+" is not an admin key")
			return
		}
		r.Body = res.Body
		next(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error is the body of every failed admin request.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Code: code, Message: msg})
}

func writeObjErr(w http.ResponseWriter, err error) {
	e := s3err.As(err)
	writeErr(w, e.Status, e.Code, e.Message)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	return nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.o.Status(r.Context()))
}

// BucketInfo is a bucket as the admin API shows it.
type BucketInfo struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Location   string    `json:"location,omitempty"`
	Versioning string    `json:"versioning,omitempty"`
	Public     bool      `json:"public,omitempty"`
	Sites      []string  `json:"sites,omitempty"`
	SyncTo     []string  `json:"syncTo,omitempty"`
}

func (h *handler) listBuckets(w http.ResponseWriter, r *http.Request) {
	bs, err := h.o.Buckets.ListBuckets(r.Context())
	if err != nil {
		writeObjErr(w, err)
		return
	}
	out := make([]BucketInfo, 0, len(bs))
	for _, b := range bs {
		bi := BucketInfo{Name: b.Name, Created: b.Created, Location: b.Location, Versioning: b.Versioning, Public: b.PublicRead, Sites: b.Sites}
		for _, t := range b.Sync {
			bi.SyncTo = append(bi.SyncTo, t.Endpoint+"/"+t.Bucket+"/"+t.Prefix)
		}
		out = append(out, bi)
	}
	writeJSON(w, http.StatusOK, out)
}

// siteCreator is implemented by object layers that place buckets on named sites.
type siteCreator interface {
	CreateBucketSites(ctx context.Context, name string, sites []string) error
}

// CreateBucketRequest is the body of POST buckets.
type CreateBucketRequest struct {
	Name  string   `json:"name"`
	Sites []string `json:"sites,omitempty"`
}

func (h *handler) createBucket(w http.ResponseWriter, r *http.Request) {
	var req CreateBucketRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	var err error
	if sc, ok := h.o.Buckets.(siteCreator); ok && len(req.Sites) > 0 {
		err = sc.CreateBucketSites(r.Context(), req.Name, req.Sites)
	} else {
		err = h.o.Buckets.CreateBucket(r.Context(), req.Name, strings.Join(req.Sites, ","))
	}
	if err != nil {
		writeObjErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
}

func (h *handler) deleteBucket(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Buckets.DeleteBucket(r.Context(), r.PathValue("name")); err != nil {
		writeObjErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.o.Keys.List())
}

// CreateKeyRequest is the body of POST keys.
type CreateKeyRequest struct {
	AccessKey string `json:"accessKey,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) {
	var req CreateKeyRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	k, err := h.o.Keys.CreateKey(req.AccessKey, req.Name, h.o.Now())
	if err != nil {
		keyErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func keyErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, iam.ErrNoSuchKey):
		writeErr(w, http.StatusNotFound, "NoSuchKey", err.Error())
	case errors.Is(err, iam.ErrKeyExists):
		writeErr(w, http.StatusConflict, "KeyExists", err.Error())
	case errors.Is(err, iam.ErrBadPerm), errors.Is(err, iam.ErrBadKeyName), errors.Is(err, iam.ErrRootKey):
		writeErr(w, http.StatusBadRequest, "InvalidArgument", err.Error())
	default:
		writeErr(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}

func (h *handler) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Keys.DeleteKey(r.PathValue("ak")); err != nil {
		keyErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GrantRequest is the body of PUT keys/{ak}/grants/{bucket}.
type GrantRequest struct {
	Perm string `json:"perm"`
}

func (h *handler) grant(w http.ResponseWriter, r *http.Request) {
	var req GrantRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	if req.Perm == "" {
		keyErr(w, iam.ErrBadPerm)
		return
	}
	if err := h.o.Keys.Grant(r.PathValue("ak"), r.PathValue("bucket"), req.Perm); err != nil {
		keyErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) revoke(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Keys.Grant(r.PathValue("ak"), r.PathValue("bucket"), ""); err != nil {
		keyErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) decommission(w http.ResponseWriter, r *http.Request) {
	if h.o.Decommission == nil {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", "this node runs alone (no --mesh): there is nothing to decommission")
		return
	}
	if err := h.o.Decommission(r.PathValue("id")); err != nil {
		writeErr(w, http.StatusNotFound, "NoSuchNode", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// syncAdder is implemented by object layers that replicate buckets to upstream S3 endpoints.
type syncAdder interface {
	AddSyncTarget(ctx context.Context, bucket string, t object.SyncTarget) (object.SyncTarget, error)
}

func (h *handler) addSync(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.o.Buckets.(syncAdder)
	if !ok {
		writeErr(w, http.StatusNotImplemented, "NotImplemented", "this node cannot sync buckets upstream")
		return
	}
	var t object.SyncTarget
	if err := decode(r, &t); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	if t.Endpoint == "" || t.Bucket == "" || t.AccessKey == "" || t.SecretKey == "" {
		writeErr(w, http.StatusBadRequest, "InvalidArgument", "a sync target needs endpoint, bucket, accessKey and secretKey")
		return
	}
	t, err := sa.AddSyncTarget(r.Context(), r.PathValue("name"), t)
	if err != nil {
		writeObjErr(w, err)
		return
	}
	t.SecretKey = ""
	writeJSON(w, http.StatusCreated, t)
}

// siteSetter is implemented by object layers that can move buckets between sites.
type siteSetter interface {
	SetBucketSites(ctx context.Context, bucket string, sites []string) ([]string, error)
}

// SitesRequest is the body of PUT buckets/{name}/sites.
type SitesRequest struct {
	Sites []string `json:"sites"`
}

func (h *handler) setSites(w http.ResponseWriter, r *http.Request) {
	ss, ok := h.o.Buckets.(siteSetter)
	if !ok {
		writeErr(w, http.StatusNotImplemented, "NotImplemented", "this node cannot move buckets between sites")
		return
	}
	var req SitesRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	added, err := ss.SetBucketSites(r.Context(), r.PathValue("name"), req.Sites)
	if err != nil {
		writeObjErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": req.Sites, "copying_to": added})
}
