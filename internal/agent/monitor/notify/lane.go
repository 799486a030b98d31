package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// idleRescan is the longest a delivery loop sleeps with nothing due. Work
// wakes it sooner; this only bounds what a jump of the wall clock delays.
const idleRescan = time.Hour

// lane is one channel's delivery loop: the head of the queue first, then,
// with the queue empty, repeats and Alertmanager re-sends; a heartbeat
// whenever one is due. It ends when ctx does.
func (n *Notifier) lane(ctx context.Context, c *channel, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		wait := n.step(ctx, c)
		if wait <= 0 {
			continue
		}
		timer := n.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-c.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty {
		if err := n.saveState(c); err != nil {
			n.log.Error("save notification channel state", "channel", c.name, "error", err)
		}
	}
}

// step does the one thing that is due and returns 0, or returns how long
// until something is.
func (n *Notifier) step(ctx context.Context, c *channel) time.Duration {
	now := n.clock.Now()
	c.mu.Lock()
	if c.set.heartbeat > 0 && !now.Before(c.nextHeartbeat) {
		c.nextHeartbeat = now.Add(c.set.heartbeat)
		c.mu.Unlock()
		n.heartbeat(ctx, c, now)
		return 0
	}
	wait := idleRescan
	if c.set.heartbeat > 0 {
		wait = c.nextHeartbeat.Sub(now)
	}
	n.expire(c, now)
	if e := c.q.head(); e != nil {
		if now.Before(c.nextAttempt) {
			c.mu.Unlock()
			return min(wait, c.nextAttempt.Sub(now))
		}
		c.inflight = e
		c.st.LastAttemptAt = now
		s, timeout := c.send, c.set.timeout
		c.mu.Unlock()
		took, err := n.attempt(ctx, s, timeout, message{id: e.ID, event: e.Event, n: e.Notification, now: now})
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inflight = nil
		if err != nil && ctx.Err() != nil {
			return 0 // cut short by the daemon stopping: the notification stays queued for the next run
		}
		n.settle(c, e, now, took, err)
		return 0
	}
	// The queue is empty: the channel is caught up.
	if c.set.repeat > 0 {
		due, next := c.dueRepeats(now)
		if len(due) > 0 {
			note := api.Notification{Host: c.st.Host, HostID: c.st.HostID, Channel: c.name, Alerts: due, Time: now, IsRepeat: true}
			if err := n.enqueue(c, api.DeliveryRepeat, note, now); err != nil {
				n.log.Error("queue repeat notification", "channel", c.name, "error", err)
			} else {
				c.mu.Unlock()
				return 0
			}
		}
		if !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
	}
	if c.set.resend > 0 && len(c.st.Firing) > 0 {
		if !now.Before(c.nextResend) {
			c.nextResend = now.Add(c.set.resend)
			note := api.Notification{Host: c.st.Host, HostID: c.st.HostID, Channel: c.name, Alerts: c.st.firingAlerts(), Time: now}
			s, timeout := c.send, c.set.timeout
			c.mu.Unlock()
			n.resend(ctx, c, s, timeout, note, now)
			return 0
		}
		wait = min(wait, c.nextResend.Sub(now))
	}
	if c.dirty {
		if err := n.saveState(c); err != nil {
			n.log.Error("save notification channel state", "channel", c.name, "error", err)
		}
	}
	c.mu.Unlock()
	return max(wait, time.Millisecond)
}

// attempt sends m once, cut off after timeout on the notifier's clock.
func (n *Notifier) attempt(ctx context.Context, s sender, timeout time.Duration, m message) (time.Duration, error) {
	n.attempting.Add(1)
	defer n.attempting.Add(-1)
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := n.clock.NewTimer(timeout)
	defer timer.Stop()
	go func() {
		select {
		case <-timer.C():
			cancel(fmt.Errorf("timed out after %s", timeout))
		case <-actx.Done():
		}
	}()
	began := time.Now()
	err := s.send(actx, m)
	took := time.Since(began)
	if cause := context.Cause(actx); err != nil && cause != nil && ctx.Err() == nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	return took, err
}

// settle records the outcome of an attempt at e; c.mu is held.
func (n *Notifier) settle(c *channel, e *entry, now time.Time, took time.Duration, err error) {
	rec := api.DeliveryRecord{Time: now, Channel: c.name, Type: c.spec.Type, Event: e.Event, ID: e.ID,
		Attempt: e.attempts + 1, QueuedAt: e.QueuedAt, Duration: took.Seconds(), Alerts: deliveryAlerts(e.Notification)}
	var rejected *rejectedError
	var partial *partialError
	switch {
	case err == nil || errors.As(err, &partial):
		if rerr := c.q.remove(e); rerr != nil {
			n.log.Error("remove delivered notification", "channel", c.name, "error", rerr)
		}
		c.st.Delivered++
		c.st.LastDeliveryAt = now
		c.dirty = true
		rec.Result = api.DeliveryDelivered
		if partial != nil {
			rec.Error = partial.Error()
			n.log.Warn("notification delivered, but not to every URL", "channel", c.name, "id", e.ID, "error", partial.Error())
		}
		if c.failures > 0 {
			n.log.Info("notification channel delivers again", "channel", c.name, "failed_attempts", c.failures)
		}
		c.failures, c.nextAttempt = 0, time.Time{}
		if c.set.resend > 0 {
			c.nextResend = now.Add(c.set.resend) // what fires was just sent
		}
	case errors.As(err, &rejected):
		if rerr := c.q.remove(e); rerr != nil {
			n.log.Error("remove rejected notification", "channel", c.name, "error", rerr)
		}
		c.st.Rejected++
		c.st.LastError, c.st.LastErrorAt = err.Error(), now
		rec.Result, rec.Error = api.DeliveryRejected, err.Error()
		n.log.Warn("notification rejected by the receiver; not retried", "channel", c.name, "id", e.ID, "error", err.Error())
		c.failures, c.nextAttempt = 0, time.Time{}
		n.saveNow(c)
	default:
		e.attempts++
		c.failures++
		delay := backoff(c.set.retryMin, c.set.retryMax, c.failures, n.rand())
		c.nextAttempt = now.Add(delay)
		c.st.Failed++
		c.st.LastError, c.st.LastErrorAt = err.Error(), now
		rec.Result, rec.Error = api.DeliveryFailed, err.Error()
		n.log.Warn("notification delivery failed; will retry", "channel", c.name, "id", e.ID, "attempt", e.attempts,
			"retry_in", delay.String(), "queued", len(c.q.entries), "error", err.Error())
		n.saveNow(c)
	}
	n.record(rec)
}

func (n *Notifier) saveNow(c *channel) {
	if err := n.saveState(c); err != nil {
		n.log.Error("save notification channel state", "channel", c.name, "error", err)
	}
}

// backoff is the delay before attempt failures+1: retryMin doubled per
// failure up to retryMax, less up to half of it at random (jitter, so
// that hosts cut off together do not all come back at once); r is in
// [0, 1).
func backoff(retryMin, retryMax time.Duration, failures int, r float64) time.Duration {
	d := retryMin
	for i := 1; i < failures && d < retryMax; i++ {
		d *= 2
	}
	d = min(d, retryMax)
	return d - time.Duration(r*float64(d/2))
}

// dueRepeats returns the firing alerts whose repeat interval has passed
// since they were last notified, and when the next one is due.
func (c *channel) dueRepeats(now time.Time) (due []api.Alert, next time.Time) {
	for _, a := range c.st.firingAlerts() {
		at := c.st.Firing[fingerprint(a)].NotifiedAt.Add(c.set.repeat)
		if !now.Before(at) {
			due = append(due, a)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return due, next
}

// resend posts what fires to Alertmanager again, so it keeps the alerts
// firing (each carries an end validFor ahead). It is not queued: the next
// re-send supersedes a failed one. The history records when re-sends start
// failing and when they work again, not every one.
func (n *Notifier) resend(ctx context.Context, c *channel, s sender, timeout time.Duration, note api.Notification, now time.Time) {
	took, err := n.attempt(ctx, s, timeout, message{id: newDeliveryID(), event: api.DeliveryResend, n: note, now: now})
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var partial *partialError
	failing := err != nil && !errors.As(err, &partial)
	if failing == c.resendFailing && err == nil {
		return
	}
	rec := api.DeliveryRecord{Time: now, Channel: c.name, Type: c.spec.Type, Event: api.DeliveryResend,
		Result: api.DeliveryDelivered, Duration: took.Seconds(), Alerts: deliveryAlerts(note)}
	if err != nil {
		rec.Error = err.Error()
		n.log.Warn("re-send of firing alerts failed", "channel", c.name, "alerts", len(note.Alerts), "error", err.Error())
	}
	if failing {
		rec.Result = api.DeliveryFailed
		c.st.LastError, c.st.LastErrorAt = err.Error(), now
		c.dirty = true
	}
	if failing != c.resendFailing || partial != nil {
		n.record(rec)
	}
	c.resendFailing = failing
}

// heartbeat requests the channel's dead-man's-switch URL, unless the
// notifier's Alive check fails (then the switch is meant to fire).
func (n *Notifier) heartbeat(ctx context.Context, c *channel, now time.Time) {
	c.mu.Lock()
	hb, timeout := *c.spec.Heartbeat, c.set.timeout
	host, hostID := n.cfg.Host, n.cfg.HostID
	c.mu.Unlock()
	var err error
	var took time.Duration
	if n.cfg.Alive != nil {
		if aerr := n.cfg.Alive(); aerr != nil {
			err = fmt.Errorf("heartbeat withheld: alerting on this host is not healthy: %w", aerr)
		}
	}
	if err == nil {
		took, err = n.attempt(ctx, heartbeatSender{n: n, cfg: hb, channel: c.name, host: host, hostID: hostID}, timeout,
			message{id: newDeliveryID(), event: api.DeliveryHeartbeat, now: now})
	}
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	failing := err != nil
	if err == nil {
		c.st.LastHeartbeatAt, c.st.LastHeartbeatError = now, ""
	} else {
		c.st.LastHeartbeatError = err.Error()
	}
	c.dirty = true
	if failing == c.heartbeatFailing {
		return
	}
	c.heartbeatFailing = failing
	rec := api.DeliveryRecord{Time: now, Channel: c.name, Type: c.spec.Type, Event: api.DeliveryHeartbeat,
		Result: api.DeliveryDelivered, Duration: took.Seconds()}
	if failing {
		rec.Result, rec.Error = api.DeliveryFailed, err.Error()
		n.log.Warn("heartbeat failed", "channel", c.name, "error", err.Error())
	} else {
		n.log.Info("heartbeat works again", "channel", c.name)
	}
	n.record(rec)
	n.saveNow(c)
}

// heartbeatSender makes one dead-man's-switch request.
type heartbeatSender struct {
	n            *Notifier
	cfg          api.ChannelHeartbeat
	channel      string
	host, hostID string
}

func (h heartbeatSender) send(ctx context.Context, m message) error {
	target := h.cfg.URL
	if h.cfg.URLFile != "" {
		var err error
		if target, err = readSecretURL("heartbeat.url_file", h.cfg.URLFile); err != nil {
			return err
		}
	}
	var body []byte
	if h.cfg.Method == http.MethodPost {
		body, _ = json.Marshal(map[string]string{"status": "alive", "host": h.host, "host_id": h.hostID,
			"channel": h.channel, "time": m.now.UTC().Format(time.RFC3339)})
	}
	return h.n.postJSON(ctx, h.cfg.Method, target, body, nil)
}

// Test sends a test notification through a channel now, outside its
// queue, and returns why it did not arrive (test_on_create). The alert is
// rule "steward_test"; to an Alertmanager it goes already resolved, so
// Alertmanager accepts it without paging anyone.
func (n *Notifier) Test(ctx context.Context, name string) error {
	c := n.channel(name)
	if c == nil {
		return fmt.Errorf("test notification channel %s: no such channel", name)
	}
	c.mu.Lock()
	s, timeout, typ := c.send, c.set.timeout, c.spec.Type
	c.mu.Unlock()
	now := n.clock.Now()
	a := api.Alert{Rule: "steward_test", State: api.AlertFiring,
		Labels:      map[string]string{"alertname": "steward_test", "severity": "none"},
		Annotations: map[string]string{"summary": fmt.Sprintf("Test notification from Steward through channel %q: it works.", name)},
		StartsAt:    now}
	if typ == api.ChannelAlertmanager {
		a.State, a.StartsAt, a.EndsAt = api.AlertResolved, now.Add(-time.Second), now
	}
	a.Fingerprint = api.AlertFingerprint(a.Rule, a.Labels)
	note := api.Notification{Host: n.cfg.Host, HostID: n.cfg.HostID, Channel: name, Alerts: []api.Alert{a}, Time: now}
	id := newDeliveryID()
	took, err := n.attempt(ctx, s, timeout, message{id: id, event: api.DeliveryTest, n: note, now: now})
	rec := api.DeliveryRecord{Time: now, Channel: name, Type: typ, Event: api.DeliveryTest, ID: id, Attempt: 1,
		Result: api.DeliveryDelivered, Duration: took.Seconds(), Alerts: deliveryAlerts(note)}
	if err != nil {
		rec.Result, rec.Error = api.DeliveryFailed, err.Error()
	}
	n.record(rec)
	if err != nil {
		return fmt.Errorf("test notification channel %s: %w", name, err)
	}
	return nil
}
