package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/stream"
)

// Streams is what the admin API needs of the stream logs (stream.Manager).
type Streams interface {
	Create(req stream.CreateRequest) (stream.Info, error)
	Delete(name string) error
	Forward(name string, req stream.ForwardRequest) (stream.Info, error)
	Archive(ctx context.Context, name string, req stream.ArchiveRequest) (stream.Info, error)
	List() []stream.Info
	Describe(name string) (stream.Info, error)
	Read(name string, from uint64, limit int) ([]stream.Message, error)
	Seek(name string, t time.Time) (uint64, error)
	Wait(ctx context.Context, name string, offset uint64) error
}

var _ Streams = (*stream.Manager)(nil)

// Read limits of GET streams/{name}/messages.
const (
	defaultReadLimit = 1000
	maxReadLimit     = 100000
)

// registerStreams adds the stream log routes when the node runs them. The list lives at
// stream-logs because GET streams lists the rules' SQL stream definitions (rules.go).
func (h *handler) registerStreams() {
	if h.o.Streams == nil {
		return
	}
	const p = "/_minicloud/admin/v1/"
	h.mux.Handle("GET "+p+"stream-logs", h.auth(h.listStreamLogs))
	h.mux.Handle("PUT "+p+"streams/{name}", h.auth(h.createStream))
	h.mux.Handle("GET "+p+"streams/{name}", h.auth(h.describeStream))
	h.mux.Handle("DELETE "+p+"streams/{name}", h.auth(h.deleteStream))
	h.mux.Handle("POST "+p+"streams/{name}/forwards", h.auth(h.forwardStream))
	h.mux.Handle("POST "+p+"streams/{name}/archives", h.auth(h.archiveStream))
	h.mux.Handle("GET "+p+"streams/{name}/messages", h.auth(h.readStream))
}

func (h *handler) listStreamLogs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.o.Streams.List())
}

func (h *handler) createStream(w http.ResponseWriter, r *http.Request) {
	var req stream.CreateRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	req.Name = r.PathValue("name")
	info, err := h.o.Streams.Create(req)
	if err != nil {
		streamErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (h *handler) describeStream(w http.ResponseWriter, r *http.Request) {
	info, err := h.o.Streams.Describe(r.PathValue("name"))
	if err != nil {
		streamErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *handler) deleteStream(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Streams.Delete(r.PathValue("name")); err != nil {
		streamErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) forwardStream(w http.ResponseWriter, r *http.Request) {
	var req stream.ForwardRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	info, err := h.o.Streams.Forward(r.PathValue("name"), req)
	if err != nil {
		streamErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *handler) archiveStream(w http.ResponseWriter, r *http.Request) {
	var req stream.ArchiveRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	info, err := h.o.Streams.Archive(r.Context(), r.PathValue("name"), req)
	if err != nil {
		streamErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// readStream answers JSON lines of messages: from=OFFSET or since=RFC3339 (default: the oldest
// retained), at most limit=N. With follow=1 it keeps the response open and sends messages as
// they are logged, until the client goes away. The header X-Minicloud-Next-Offset (without
// follow) is where to continue.
func (h *handler) readStream(w http.ResponseWriter, r *http.Request) {
	name, q := r.PathValue("name"), r.URL.Query()
	from, limit, err := h.readStart(name, q.Get("from"), q.Get("since"), q.Get("limit"))
	if err != nil {
		streamErr(w, err)
		return
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	msgs, err := h.o.Streams.Read(name, from, limit)
	if err != nil {
		streamErr(w, err)
		return
	}
	next := from
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].Offset + 1
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Minicloud-Next-Offset", strconv.FormatUint(next, 10))
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		for i := range msgs {
			if err := enc.Encode(&msgs[i]); err != nil {
				return // the client went away
			}
		}
		if !follow {
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if err := h.o.Streams.Wait(r.Context(), name, next); err != nil {
			return // the client went away, or the stream was deleted
		}
		if msgs, err = h.o.Streams.Read(name, next, defaultReadLimit); err != nil {
			return
		}
		if len(msgs) > 0 {
			next = msgs[len(msgs)-1].Offset + 1
		}
	}
}

// readStart parses the start and limit of a read.
func (h *handler) readStart(name, from, since, limit string) (uint64, int, error) {
	n := defaultReadLimit
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 || v > maxReadLimit {
			return 0, 0, badArg("limit=%q: a number from 1 to %d", limit, maxReadLimit)
		}
		n = v
	}
	switch {
	case from != "" && since != "":
		return 0, 0, badArg("give from=OFFSET or since=TIME, not both")
	case from != "":
		off, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			return 0, 0, badArg("from=%q: an offset (0, 1, 2, ...)", from)
		}
		return off, n, nil
	case since != "":
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return 0, 0, badArg("since=%q: an RFC 3339 time such as 2025-06-01T12:00:00Z", since)
		}
		off, err := h.o.Streams.Seek(name, t)
		return off, n, err
	}
	return 0, n, nil
}

func badArg(format string, args ...any) error { return stream.Invalid(format, args...) }

// streamErr maps the stream errors.
func streamErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, stream.ErrNotFound):
		writeErr(w, http.StatusNotFound, "NoSuchStream", err.Error())
	case errors.Is(err, stream.ErrExists):
		writeErr(w, http.StatusConflict, "StreamExists", err.Error())
	case errors.Is(err, stream.ErrInvalid):
		writeErr(w, http.StatusBadRequest, "InvalidArgument", err.Error())
	default:
		writeErr(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}
