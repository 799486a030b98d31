package notify

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// The text of e-mail and chat notifications: a subject line that names the
// state, the rules and the host, and a body a person reads on a phone.

// counts returns how many of n's alerts fire and how many resolved.
func counts(n api.Notification) (firing, resolved int) {
	for _, a := range n.Alerts {
		if a.State == api.AlertFiring {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// rules lists the rules of n's alerts, each once, in order.
func rules(n api.Notification) []string {
	var out []string
	for _, a := range n.Alerts {
		if !slices.Contains(out, a.Rule) {
			out = append(out, a.Rule)
		}
	}
	return out
}

// subject is "[FIRING:2] disk_full on web1" (Alertmanager's default
// subject, with the host), "[RESOLVED] disk_full on web1", or
// "[FIRING:1, RESOLVED:1] …" when one notification carries both.
func subject(n api.Notification, event string) string {
	firing, resolved := counts(n)
	var state string
	switch {
	case firing > 0 && resolved > 0:
		state = fmt.Sprintf("FIRING:%d, RESOLVED:%d", firing, resolved)
	case firing > 0:
		state = fmt.Sprintf("FIRING:%d", firing)
	default:
		state = "RESOLVED"
	}
	names := rules(n)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	s := "[" + state + "] " + strings.Join(names, ", ") + " on " + hostName(n)
	switch event {
	case api.DeliveryRepeat:
		s += " (still firing)"
	case api.DeliveryTest:
		s = "[TEST] Steward notification channel test on " + hostName(n)
	}
	return s
}

func hostName(n api.Notification) string {
	if n.Host != "" {
		return n.Host
	}
	if n.HostID != "" {
		return n.HostID
	}
	return "unknown host"
}

// textBody is the plain text of a notification.
func (n *Notifier) textBody(channel string, m message) string {
	var b strings.Builder
	note := m.n
	fmt.Fprintf(&b, "%s\n\n", subject(note, m.event))
	for _, a := range note.Alerts {
		b.WriteString(alertText(a))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Host: %s", hostName(note))
	if note.HostID != "" {
		fmt.Fprintf(&b, " (machine id %s)", note.HostID)
	}
	fmt.Fprintf(&b, "\nSent by steward-agent through channel %q at %s.\n", channel, m.now.UTC().Format(time.RFC3339))
	if n.cfg.ExternalURL != "" {
		fmt.Fprintf(&b, "Status page: %s\n", n.cfg.ExternalURL)
	}
	return b.String()
}

// alertText describes one alert in a few lines.
func alertText(a api.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s\n", strings.ToUpper(a.State), a.Rule)
	for _, k := range []string{"summary", "description"} {
		if v := a.Annotations[k]; v != "" {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	fmt.Fprintf(&b, "  Value: %s (threshold %s)\n", formatValue(a.Value), formatValue(a.Threshold))
	if !a.StartsAt.IsZero() {
		fmt.Fprintf(&b, "  Since: %s\n", a.StartsAt.UTC().Format(time.RFC3339))
	}
	if a.State == api.AlertResolved && !a.EndsAt.IsZero() {
		fmt.Fprintf(&b, "  Resolved: %s\n", a.EndsAt.UTC().Format(time.RFC3339))
	}
	if len(a.Labels) > 0 {
		fmt.Fprintf(&b, "  Labels: %s\n", api.AlertLabelsString(a.Labels))
	}
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		if k != "summary" && k != "description" {
			fmt.Fprintf(&b, "  %s: %s\n", k, a.Annotations[k])
		}
	}
	return b.String()
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
