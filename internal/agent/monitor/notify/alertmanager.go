package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// postableAlert is one element of the body of Alertmanager's
// POST /api/v2/alerts (models.PostableAlert).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertmanagerSender posts alerts to every member of an Alertmanager
// cluster.
type alertmanagerSender struct {
	n      *Notifier
	cfg    api.AlertmanagerChannel
	resend time.Duration
}

// validFor is how long Alertmanager is told a firing alert lasts, as
// Prometheus tells it (4 × max(resend delay, evaluation interval)): long
// enough that re-sends every resend interval keep it firing across three
// lost ones, short enough that an alert of a host that went silent
// resolves on its own.
func (s *alertmanagerSender) validFor() time.Duration { return 4 * s.resend }

// postable renders a notification's alerts: a firing alert ends validFor
// from now unless re-sent; a resolved one carries its end.
func (s *alertmanagerSender) postable(note api.Notification, now time.Time) []postableAlert {
	out := make([]postableAlert, 0, len(note.Alerts))
	for _, a := range note.Alerts {
		p := postableAlert{Labels: alertLabels(note, a), Annotations: a.Annotations, StartsAt: a.StartsAt,
			GeneratorURL: s.n.cfg.ExternalURL}
		if a.State == api.AlertFiring {
			p.EndsAt = now.Add(s.validFor())
		} else {
			p.EndsAt = resolvedAt(a, now)
		}
		out = append(out, p)
	}
	return out
}

// send posts to every URL at once, so one member that hangs does not eat
// the others' time. Delivered means at least one member accepted it (the
// cluster shares what one member gets); the others' errors come back as a
// *partialError.
func (s *alertmanagerSender) send(ctx context.Context, m message) error {
	body, err := json.Marshal(s.postable(m.n, m.now))
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	header := http.Header{api.DeliveryIDHeader: {m.id}}
	if err := setAuthorization(header, "alertmanager.authorization_file", s.cfg.AuthorizationFile); err != nil {
		return err
	}
	errs := make([]error, len(s.cfg.URLs))
	var wg sync.WaitGroup
	for i, base := range s.cfg.URLs {
		wg.Go(func() {
			errs[i] = s.n.postJSON(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/api/v2/alerts", body, header)
		})
	}
	wg.Wait()
	failed, rejected := 0, 0
	for _, err := range errs {
		if err != nil {
			failed++
			var rej *rejectedError
			if errors.As(err, &rej) {
				rejected++
			}
		}
	}
	joined := errors.Join(errs...)
	switch {
	case failed == 0:
		return nil
	case rejected == len(errs):
		return &rejectedError{joined}
	case failed == len(errs):
		return joined
	}
	return &partialError{fmt.Errorf("%d of %d Alertmanagers failed: %w", failed, len(errs), joined)}
}
