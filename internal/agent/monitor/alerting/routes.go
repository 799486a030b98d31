package alerting

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Paths of the daemon's alerting routes (see the package doc).
const (
	alertsPath   = "/api/v1/alerts"
	rulesPath    = alertsPath + "/rules/"
	silencesPath = alertsPath + "/silences/"
	channelsPath = alertsPath + "/channels"
	historyPath  = alertsPath + "/history"
)

// maxRequestBody bounds a route's request body.
const maxRequestBody = 1 << 20

// Routes implements core.Routed.
func (a *Alerting) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+alertsPath, a.serveAlerts)
	mux.HandleFunc("GET "+rulesPath+"{name}", a.serveRule)
	mux.HandleFunc("GET "+silencesPath+"{name}", a.serveSilence)
	mux.HandleFunc("GET "+channelsPath, a.serveChannels)
	mux.HandleFunc("POST "+channelsPath+"/{name}/test", socketOnly(a.serveChannelTest))
	mux.HandleFunc("DELETE "+channelsPath+"/{name}", socketOnly(a.serveChannelRemove))
	mux.HandleFunc("POST "+historyPath, a.serveHistory)
}

// socketOnly answers only requests that came through the daemon's unix
// socket, which only root reaches: the TCP listener may be open to other
// local users, or the network, who must not make the host send or forget
// notifications.
func socketOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); !ok {
			reply(w, http.StatusForbidden, api.Error{Code: api.CodeBadRequest, Message: "only on the daemon's unix socket"})
			return
		}
		h(w, r)
	}
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// replyError maps an error to its status: an *api.Error keeps its code.
func replyError(w http.ResponseWriter, err error) {
	var ae *api.Error
	if errors.As(err, &ae) {
		code := http.StatusBadRequest
		switch ae.Code {
		case api.CodeNotFound:
			code = http.StatusNotFound
		case api.CodeInternal:
			code = http.StatusInternalServerError
		case api.CodeChannelTestFailed:
			code = http.StatusBadGateway
		}
		reply(w, code, ae)
		return
	}
	reply(w, http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: err.Error()})
}

// validName checks a {name} path value as the spec files' names are.
func validName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if err := api.ValidateObjectName(name); err != nil {
		replyError(w, core.BadRequest("%v", err))
		return "", false
	}
	return name, true
}

// Status is what the daemon reports of its alerting as a whole.
func (a *Alerting) Status() (api.AlertsStatus, error) {
	hostID, err := core.ReadHostID(a.deps.Paths)
	if err != nil {
		return api.AlertsStatus{}, err
	}
	until, reason := a.engine.Muted()
	a.mu.Lock()
	last := a.lastEval
	a.mu.Unlock()
	return api.AlertsStatus{HostID: hostID, At: a.deps.Now().UTC(), Alerts: a.engine.Alerts(), LastEvaluation: last,
		MutedUntil: until, MuteReason: reason, Problems: a.problems()}, nil
}

func (a *Alerting) serveAlerts(w http.ResponseWriter, _ *http.Request) {
	st, err := a.Status()
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, st)
}

func (a *Alerting) serveRule(w http.ResponseWriter, r *http.Request) {
	name, ok := validName(w, r)
	if !ok {
		return
	}
	obs := a.engine.RuleStatus(name)
	if obs.LastEvaluation.IsZero() {
		obs.Note = a.notLoaded("rule", name)
	}
	reply(w, http.StatusOK, obs)
}

func (a *Alerting) serveSilence(w http.ResponseWriter, r *http.Request) {
	name, ok := validName(w, r)
	if !ok {
		return
	}
	obs, found := a.engine.SilenceStatus(name, a.deps.Now())
	if !found {
		obs.Note = a.notLoaded("silence", name)
	}
	reply(w, http.StatusOK, obs)
}

// notLoaded explains why the daemon has nothing of an object: a problem
// loading it, or no evaluation since it was written.
func (a *Alerting) notLoaded(kind, name string) string {
	for _, p := range a.problems() {
		if strings.Contains(p, "/"+name+".json") || strings.Contains(p, kind+" "+name+":") {
			return "the daemon did not load it: " + p
		}
	}
	return "the daemon has not loaded or evaluated it yet"
}

func (a *Alerting) serveChannels(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, a.notifier.Status())
}

// serveChannelTest rereads the channels first: the controller asks right
// after it wrote a new spec, before the configuration watch may have told
// the notifier.
func (a *Alerting) serveChannelTest(w http.ResponseWriter, r *http.Request) {
	name, ok := validName(w, r)
	if !ok {
		return
	}
	specs, err := a.loadChannels()
	if serr := a.notifier.SetChannels(specs); serr != nil {
		err = errors.Join(err, serr)
	}
	if _, loaded := a.notifier.Status()[name]; !loaded {
		msg := "the daemon has no channel " + name
		if err != nil {
			msg += ": " + err.Error()
		}
		replyError(w, &api.Error{Code: api.CodeNotFound, Message: msg})
		return
	}
	if err := a.notifier.Test(r.Context(), name); err != nil {
		replyError(w, &api.Error{Code: api.CodeChannelTestFailed, Message: err.Error()})
		return
	}
	reply(w, http.StatusOK, struct{}{})
}

func (a *Alerting) serveChannelRemove(w http.ResponseWriter, r *http.Request) {
	name, ok := validName(w, r)
	if !ok {
		return
	}
	if err := a.notifier.Remove(name); err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, struct{}{})
}

func (a *Alerting) serveHistory(w http.ResponseWriter, r *http.Request) {
	var q api.AlertHistoryParams
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		replyError(w, core.BadRequest("decode alert history query: %v", err))
		return
	}
	res, err := a.History(q)
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, res)
}

// History answers q from the engine's transitions and the notifier's
// deliveries.
func (a *Alerting) History(q api.AlertHistoryParams) (api.AlertHistoryResult, error) {
	if err := q.Validate(); err != nil {
		return api.AlertHistoryResult{}, core.BadRequest("alert history query: %v", err)
	}
	hostID, err := core.ReadHostID(a.deps.Paths)
	if err != nil {
		return api.AlertHistoryResult{}, err
	}
	res := api.AlertHistoryResult{HostID: hostID, At: a.deps.Now().UTC(),
		Transitions: a.engine.History(q.Transitions()), Deliveries: a.notifier.History(q.Deliveries())}
	if res.Deliveries == nil {
		res.Deliveries = []api.DeliveryRecord{} // a list, never null, for the data source
	}
	return res, nil
}
