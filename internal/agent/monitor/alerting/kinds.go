package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/notify"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Register adds the alerting methods to an agent's method registry: the
// lifecycles of alert rules, notification channels and silences, and
// alerts.history.
func Register(methods map[string]core.Handler) {
	core.RegisterKind(methods, api.AlertRuleKind, func(d core.Deps) core.Controller[api.AlertRule, api.AlertRuleObserved] {
		return ruleController{deps: d}
	})
	core.RegisterKind(methods, api.NotificationChannelKind, func(d core.Deps) core.Controller[api.NotificationChannel, api.NotificationChannelObserved] {
		return channelController{deps: d}
	})
	core.RegisterKind(methods, api.SilenceKind, func(d core.Deps) core.Controller[api.Silence, api.SilenceObserved] {
		return silenceController{deps: d}
	})
	methods[api.AlertHistory.Name] = handleAlertHistory
}

// handleAlertHistory answers alerts.history from the running daemon.
func handleAlertHistory(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var q api.AlertHistoryParams
	if err := core.DecodeParams(req, &q); err != nil { // runs q.Validate
		return nil, err
	}
	return QueryHistory(ctx, deps.Paths, q)
}

// daemonDownNote is the Note of a status the daemon could not be asked for.
func daemonDownNote(err error) string {
	return "not observed: " + err.Error()
}

// hostInterval is the collection interval the host's daemon runs with, from
// agent.json (read here rather than through package agent, which imports
// this one).
func hostInterval(p core.Paths) (time.Duration, error) {
	var c api.AgentConfig
	b, err := os.ReadFile(p.AgentConfig())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", p.AgentConfig(), err)
	default:
		if err := json.Unmarshal(b, &c); err != nil {
			return 0, fmt.Errorf("parse %s: %w", p.AgentConfig(), err)
		}
	}
	interval, _, _, _, _, err := c.Monitoring.WithDefaults().Durations()
	if err != nil {
		return 0, fmt.Errorf("%s: monitoring: %w", p.AgentConfig(), err)
	}
	return interval, nil
}

// ruleController: the daemon reads the rule files, so applying or removing
// a rule is the spec file alone.
type ruleController struct{ deps core.Deps }

// Check validates the rule against the host's collection interval, so a
// `for` shorter than it is refused with the reason.
func (c ruleController) Check(_ context.Context, spec api.AlertRule) error {
	interval, err := hostInterval(c.deps.Paths)
	if err != nil {
		return err
	}
	if err := spec.ValidateWithInterval(interval); err != nil {
		return core.BadRequest("alert rule %s: %v", spec.Name, err)
	}
	return nil
}

func (ruleController) Apply(context.Context, api.AlertRule, *api.AlertRule) (core.Applied, error) {
	return core.Applied{}, nil
}

func (ruleController) Remove(context.Context, api.AlertRule) error { return nil }

// Observe asks the daemon for the rule's alerts; a daemon that is down is
// a note, never a failed read.
func (c ruleController) Observe(ctx context.Context, spec api.AlertRule) (api.AlertRuleObserved, error) {
	var obs api.AlertRuleObserved
	err := callDaemon(ctx, c.deps.Paths, http.MethodGet, rulesPath+url.PathEscape(spec.Name), nil, &obs)
	if err != nil {
		return api.AlertRuleObserved{Alerts: []api.AlertInstance{}, Note: daemonDownNote(err)}, nil
	}
	return obs, nil
}

// channelController: the notifier reads the channel files; Check reads the
// secret files as a send would, Apply sends the test on create.
type channelController struct{ deps core.Deps }

// Check refuses a channel whose files (secrets, a Slack URL, a CA) a send
// could not use, naming the attribute.
func (c channelController) Check(_ context.Context, spec api.NotificationChannel) error {
	if err := notify.CheckFiles(spec.WithDefaults()); err != nil {
		return core.BadRequest("notification channel %s: %v", spec.Name, err)
	}
	if spec.Command != nil {
		return checkProgram(spec.Name, spec.Command.Args[0])
	}
	return nil
}

// checkProgram refuses a command channel's program that is missing, not
// executable, or that a user other than root could replace: the notifier
// runs it as root for every notification.
func checkProgram(channel, prog string) error {
	if err := core.CheckRootProgram(prog); err != nil {
		return &api.Error{Code: api.CodeProgramMissing, Message: fmt.Sprintf("notification channel %s: command.args[0] %s: %v", channel, prog, err)}
	}
	return nil
}

// Apply sends a test notification when test_on_create is set and the
// channel is new, and fails the configure with the receiver's error when
// it does not arrive. The spec file is then removed again, so the next
// apply creates (and tests) the channel anew instead of finding it there.
func (c channelController) Apply(ctx context.Context, spec api.NotificationChannel, prev *api.NotificationChannel) (core.Applied, error) {
	if !spec.TestOnCreate || prev != nil {
		return core.Applied{}, nil
	}
	err := TestChannel(ctx, c.deps.Paths, spec.Name)
	if err == nil {
		return core.Applied{Changed: true}, nil
	}
	file := c.deps.Paths.ObjectFile(api.NotificationChannelKind.Dir, spec.Name)
	if rerr := os.Remove(file); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s after the failed test: %w", file, rerr))
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return core.Applied{}, &api.Error{Code: ae.Code, Message: fmt.Sprintf("notification channel %s: test_on_create: %s", spec.Name, ae.Message)}
	}
	return core.Applied{}, fmt.Errorf("notification channel %s: test_on_create: %w", spec.Name, err)
}

// Remove deletes the channel's queue and delivery state (its history
// stays): through the daemon, or, when it is down, on disk.
func (c channelController) Remove(ctx context.Context, spec api.NotificationChannel) error {
	err := callDaemon(ctx, c.deps.Paths, http.MethodDelete, channelsPath+"/"+url.PathEscape(spec.Name), nil, nil)
	if !daemonDown(err) {
		return err
	}
	dir := filepath.Join(c.deps.Paths.StateDir, "notify", "channels", spec.Name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove notification channel %s: %w", spec.Name, err)
	}
	return nil
}

// Observe asks the daemon for the channel's queue and results.
func (c channelController) Observe(ctx context.Context, spec api.NotificationChannel) (api.NotificationChannelObserved, error) {
	var all map[string]api.NotificationChannelObserved
	if err := callDaemon(ctx, c.deps.Paths, http.MethodGet, channelsPath, nil, &all); err != nil {
		return api.NotificationChannelObserved{Note: daemonDownNote(err)}, nil
	}
	obs, ok := all[spec.Name]
	if !ok {
		obs.Note = "the daemon has not loaded this channel (yet)"
	}
	return obs, nil
}

// silenceController: the engine reads the silence files.
type silenceController struct{ deps core.Deps }

func (silenceController) Check(context.Context, api.Silence) error { return nil }

func (silenceController) Apply(context.Context, api.Silence, *api.Silence) (core.Applied, error) {
	return core.Applied{}, nil
}

func (silenceController) Remove(context.Context, api.Silence) error { return nil }

// Observe asks the daemon whether the silence is in force and what it holds
// back.
func (c silenceController) Observe(ctx context.Context, spec api.Silence) (api.SilenceObserved, error) {
	var obs api.SilenceObserved
	if err := callDaemon(ctx, c.deps.Paths, http.MethodGet, silencesPath+url.PathEscape(spec.Name), nil, &obs); err != nil {
		return api.SilenceObserved{Note: daemonDownNote(err)}, nil
	}
	return obs, nil
}
