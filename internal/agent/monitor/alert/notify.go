package alert

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// outgoing is one alert for one channel, waiting to be handed out by
// Evaluate. Those made outside an evaluation (a rule removed while its
// alert fired) are persisted until then.
type outgoing struct {
	Channel string    `json:"channel"`
	Alert   api.Alert `json:"alert"`
	Repeat  bool      `json:"repeat,omitempty"`
}

// maxOutbox bounds the alerts kept for the next evaluation.
const maxOutbox = 1000

func (e *Engine) queue(o outgoing) {
	if len(e.outbox) >= maxOutbox {
		e.log.Warn("alert outbox full; dropping the oldest notification", "rule", e.outbox[0].Alert.Rule, "channel", e.outbox[0].Channel)
		e.outbox = slices.Delete(e.outbox, 0, 1)
	}
	e.outbox = append(e.outbox, o)
	e.dirty = true
}

// suppressed returns the active silences whose matchers all match labels,
// and whether the rule is muted because Steward is changing the host.
func (e *Engine) suppressed(r *rule, labels map[string]string, now time.Time) (silences []string, muted bool) {
	for _, s := range e.silences {
		if s.active && s.matches(labels) {
			silences = append(silences, s.spec.Name)
		}
	}
	muted = r != nil && r.spec.MuteDuringChanges && now.Before(e.mute.Until)
	return silences, muted
}

// notify decides what of ent's alert goes out in this evaluation:
//
//   - a firing alert goes to every channel of the rule not yet told, unless
//     a silence or a mute holds it back (then it goes out at the first
//     evaluation after they end); after repeat_interval it goes again to
//     all of them;
//   - a firing alert a silence held back goes to every channel of the rule
//     when the silence ends, told before or not: whoever silenced it
//     expected to hear again if it still fires (alertmanager#2896);
//   - a resolve goes to every channel that was told the alert fires,
//     whatever silences and mutes say: it pages no one, and a receiver
//     left with an alert that never ends is worse.
func (e *Engine) notify(r *rule, ent *entry, now time.Time) {
	switch ent.State {
	case api.AlertFiring:
		if s, muted := e.suppressed(r, ent.Labels, now); len(s) > 0 || muted {
			if len(s) > 0 && !ent.WasSilenced {
				ent.WasSilenced, e.dirty = true, true
			}
			return
		}
		again := ent.WasSilenced
		ent.WasSilenced = false
		var alert *api.Alert
		for _, ch := range r.spec.Channels {
			if slices.Contains(ent.Notified, ch) && !again {
				continue
			}
			if alert == nil {
				alert = e.alertOf(r, ent)
			}
			e.queue(outgoing{Channel: ch, Alert: *alert})
			if !slices.Contains(ent.Notified, ch) {
				ent.Notified = append(ent.Notified, ch)
			}
		}
		if alert != nil {
			ent.LastSentAt = now
			return
		}
		if r.repeat > 0 && len(ent.Notified) > 0 && now.Sub(ent.LastSentAt) >= r.repeat {
			alert = e.alertOf(r, ent)
			for _, ch := range ent.Notified {
				e.queue(outgoing{Channel: ch, Alert: *alert, Repeat: true})
			}
			ent.LastSentAt = now
		}
	case api.AlertResolved:
		e.sendResolve(r, ent)
	}
}

// sendResolve queues ent's resolve for the channels told it fired.
func (e *Engine) sendResolve(r *rule, ent *entry) {
	if len(ent.Notified) == 0 {
		return
	}
	alert := e.alertOf(r, ent)
	alert.State = api.AlertResolved
	for _, ch := range ent.Notified {
		e.queue(outgoing{Channel: ch, Alert: *alert})
	}
	ent.Notified = nil
}

// alertOf builds the hand-over alert of ent, annotations rendered now (so
// they show the current value).
// r is nil for a rule removed while the agent was down: its resolve then
// carries no threshold and no annotations.
func (e *Engine) alertOf(r *rule, ent *entry) *api.Alert {
	a := &api.Alert{
		Rule: ent.Rule, State: ent.State, Labels: maps.Clone(ent.Labels),
		Value: ent.Value, StartsAt: ent.FiredAt, EndsAt: ent.ResolvedAt,
		Fingerprint: ent.Fingerprint, NoData: ent.NoData,
	}
	if r == nil {
		return a
	}
	a.Threshold = r.threshold
	if len(r.annotations) > 0 {
		data := e.templateData(r, ent, ent.Labels)
		a.Annotations = make(map[string]string, len(r.annotations))
		for _, t := range r.annotations {
			a.Annotations[t.name] = render(e, r, t, data)
		}
	}
	return a
}

// takeNotifications turns the outbox into one notification per channel for
// new states and one for repeats, channels and alerts in a stable order.
func (e *Engine) takeNotifications(now time.Time) []api.Notification {
	if len(e.outbox) == 0 {
		return nil
	}
	slices.SortStableFunc(e.outbox, func(a, b outgoing) int {
		return cmp.Or(strings.Compare(a.Channel, b.Channel), boolCompare(a.Repeat, b.Repeat),
			strings.Compare(a.Alert.Rule, b.Alert.Rule), strings.Compare(a.Alert.Fingerprint, b.Alert.Fingerprint))
	})
	var out []api.Notification
	for _, o := range e.outbox {
		if n := len(out); n == 0 || out[n-1].Channel != o.Channel || out[n-1].IsRepeat != o.Repeat {
			out = append(out, api.Notification{Host: e.cfg.Host, HostID: e.cfg.HostID, Channel: o.Channel, Time: now, IsRepeat: o.Repeat})
		}
		out[len(out)-1].Alerts = append(out[len(out)-1].Alerts, o.Alert)
	}
	e.outbox = e.outbox[:0]
	e.dirty = true
	return out
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
