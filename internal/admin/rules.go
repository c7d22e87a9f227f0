package admin

import (
	"errors"
	"io"
	"net/http"

	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

// Rules is what the admin API needs of the rules runtime (rulesrt.Runtime).
type Rules interface {
	ExecSQL(sql string) (rulesrt.SQLResult, error)
	Streams() []*rules.Stream
	Create(name string, def []byte) (rulesrt.RuleInfo, error)
	List() []rulesrt.RuleInfo
	Describe(name string) (rulesrt.RuleInfo, error)
	Start(name string) (rulesrt.RuleInfo, error)
	Stop(name string) (rulesrt.RuleInfo, error)
	Delete(name string) error
}

var _ Rules = (*rulesrt.Runtime)(nil)

// SQLRequest is the body of POST sql.
type SQLRequest struct {
	SQL string `json:"sql"`
}

// registerRules adds the stream and rule routes when the node runs rules.
func (h *handler) registerRules() {
	if h.o.Rules == nil {
		return
	}
	const p = "/_minicloud/admin/v1/"
	h.mux.Handle("POST "+p+"sql", h.auth(h.execSQL))
	h.mux.Handle("GET "+p+"streams", h.auth(h.listStreams))
	h.mux.Handle("GET "+p+"rules", h.auth(h.listRules))
	h.mux.Handle("POST "+p+"rules", h.auth(h.createRule))
	h.mux.Handle("GET "+p+"rules/{name}", h.auth(h.ruleOp(h.o.Rules.Describe)))
	h.mux.Handle("DELETE "+p+"rules/{name}", h.auth(h.deleteRule))
	h.mux.Handle("POST "+p+"rules/{name}/start", h.auth(h.ruleOp(h.o.Rules.Start)))
	h.mux.Handle("POST "+p+"rules/{name}/stop", h.auth(h.ruleOp(h.o.Rules.Stop)))
}

func (h *handler) execSQL(w http.ResponseWriter, r *http.Request) {
	var req SQLRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", err.Error())
		return
	}
	res, err := h.o.Rules.ExecSQL(req.SQL)
	if err != nil {
		rulesErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) listStreams(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.o.Rules.Streams())
}

func (h *handler) listRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.o.Rules.List())
}

// createRule takes eKuiper's rule JSON as the body; the name comes from ?name= (the CLI's NAME)
// or the JSON's "id".
func (h *handler) createRule(w http.ResponseWriter, r *http.Request) {
	def, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", "read body: "+err.Error())
		return
	}
	info, err := h.o.Rules.Create(r.URL.Query().Get("name"), def)
	if err != nil {
		rulesErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (h *handler) ruleOp(op func(string) (rulesrt.RuleInfo, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, err := op(r.PathValue("name"))
		if err != nil {
			rulesErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	}
}

func (h *handler) deleteRule(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Rules.Delete(r.PathValue("name")); err != nil {
		rulesErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rulesErr maps the runtime's errors; messages go out unchanged so that a SQL error keeps its
// "line L, column C" lead.
func rulesErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, rulesrt.ErrNotFound):
		writeErr(w, http.StatusNotFound, "NoSuchRule", err.Error())
	case errors.Is(err, rules.ErrStreamNotFound):
		writeErr(w, http.StatusNotFound, "NoSuchStream", err.Error())
	case errors.Is(err, rulesrt.ErrExists):
		writeErr(w, http.StatusConflict, "RuleExists", err.Error())
	case errors.Is(err, rules.ErrStreamExists):
		writeErr(w, http.StatusConflict, "StreamExists", err.Error())
	case errors.Is(err, rulesrt.ErrInUse):
		writeErr(w, http.StatusConflict, "StreamInUse", err.Error())
	case errors.Is(err, rulesrt.ErrInvalid):
		writeErr(w, http.StatusBadRequest, "InvalidArgument", err.Error())
	default:
		writeErr(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}
