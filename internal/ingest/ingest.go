// Package ingest is minicloud's HTTP ingest: POST /streams/{topic...} on the S3 port publishes
// the body's JSON documents as MQTT messages, for devices that speak HTTP rather than MQTT. It
// authenticates like the rest of the S3 port and holds keys to their topic grants; it keeps no
// state and knows nothing of the broker beyond Publisher.
package ingest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/s3err"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// Prefix is the path under which the handler serves. On the S3 port it shadows a bucket named
// "streams" for POST requests only (POST on a bucket is S3's browser-form upload and
// multi-object delete, which a bucket of that name loses); every other method still reaches S3.
const Prefix = "/streams/"

// MaxBody is the largest body accepted, like the broker's largest packet.
const MaxBody = 1 << 20

// Publisher publishes a message on the node's broker.
type Publisher interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// Keys is what ingest needs of the key store.
type Keys interface {
	Secret(accessKey string) (string, bool)
	TopicAllowed(accessKey, topic string, a iam.Action) bool
}

// Options configure the handler.
type Options struct {
	Publisher Publisher
	Keys      Keys
	Verifier  *sigv4.Verifier
	Logger    *slog.Logger
}

// Match reports whether r is an ingest request.
func Match(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, Prefix)
}

type handler struct{ o Options }

// New returns the handler; mount it for requests that Match.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{o}
}

// Result is the answer to a successful request.
type Result struct {
	Topic     string `json:"topic"`
	Published int    `json:"published"`
}

// Error is the body of a failed request, shaped like the admin API's.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeErr(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "ingest takes POST /streams/TOPIC")
		return
	}
	topic := strings.TrimPrefix(r.URL.Path, Prefix)
	if err := validTopic(topic); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidTopic", err.Error())
		return
	}
	ak, body, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if !h.o.Keys.TopicAllowed(ak, topic, iam.ActionWrite) {
		writeErr(w, http.StatusForbidden, "AccessDenied", "access key "+ak+" may not publish to "+topic+" (grant it with: minicloud key grant "+ak+" 'mqtt:"+topic+"' write)")
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxBody+1))
	if err != nil {
		e := s3err.As(err)
		if e == s3err.InternalError {
			writeErr(w, http.StatusBadRequest, "IncompleteBody", "read body: "+err.Error())
			return
		}
		writeErr(w, e.Status, e.Code, e.Message)
		return
	}
	if len(data) > MaxBody {
		writeErr(w, http.StatusRequestEntityTooLarge, "EntityTooLarge", "the body is over 1 MiB: send fewer lines per request")
		return
	}
	msgs, err := ParseBody(data)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedJSON", err.Error()+"; nothing was published")
		return
	}
	for _, m := range msgs {
		// QoS 1: subscribers that asked for it get at-least-once delivery, as from a device.
		if err := h.o.Publisher.Publish(topic, m, 1, false); err != nil {
			h.o.Logger.Error("ingest publish failed", "topic", topic, "err", err)
			writeErr(w, http.StatusServiceUnavailable, "PublishFailed", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, Result{Topic: topic, Published: len(msgs)})
}

// authenticate admits HTTP Basic (access key, secret) for small devices, and SigV4 (e.g. curl
// --aws-sigv4 "aws:amz:REGION:s3"), and nothing anonymous.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (string, io.Reader, bool) {
	if ak, secret, ok := r.BasicAuth(); ok {
		want, found := h.o.Keys.Secret(ak)
		if !found || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			writeErr(w, http.StatusForbidden, "AccessDenied", "bad access key or secret")
			return "", nil, false
		}
		return ak, r.Body, true
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") && r.Header.Get("X-Amz-Content-Sha256") == "" {
		return h.authenticateUnhashed(w, r)
	}
	res, err := h.o.Verifier.Verify(r)
	if err != nil {
		e := s3err.As(err)
		writeErr(w, e.Status, e.Code, e.Message)
		return "", nil, false
	}
	if res.AccessKey == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="minicloud"`)
		writeErr(w, http.StatusUnauthorized, "AccessDenied", "ingest needs credentials: HTTP Basic with an access key and its secret, or a SigV4 signature")
		return "", nil, false
	}
	return res.AccessKey, res.Body, true
}

// authenticateUnhashed serves SigV4 requests without X-Amz-Content-Sha256 (see verifyUnhashed).
func (h *handler) authenticateUnhashed(w http.ResponseWriter, r *http.Request) (string, io.Reader, bool) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "IncompleteBody", "read body: "+err.Error())
		return "", nil, false
	}
	if len(data) > MaxBody {
		writeErr(w, http.StatusRequestEntityTooLarge, "EntityTooLarge", "the body is over 1 MiB: send fewer lines per request")
		return "", nil, false
	}
	now := time.Now()
	if h.o.Verifier.Now != nil {
		now = h.o.Verifier.Now()
	}
	ak, err := verifyUnhashed(r, data, h.o.Verifier.Region, h.o.Keys.Secret, now)
	if err != nil {
		writeErr(w, http.StatusForbidden, "AccessDenied", "SigV4: "+err.Error())
		return "", nil, false
	}
	return ak, bytes.NewReader(data), true
}

func validTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("no topic: POST /streams/TOPIC, e.g. /streams/sensors/room1")
	case strings.ContainsAny(topic, "+#"):
		return errors.New("topic " + topic + " holds a wildcard (+ or #): publish to one topic")
	case strings.HasPrefix(topic, "$"):
		return errors.New("topics starting with $ are the broker's")
	case strings.Contains(topic, "\x00"):
		return errors.New("topic holds a NUL byte")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Code: code, Message: msg})
}
