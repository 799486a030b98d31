package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const slackToken = "XXXXsecretTOKEN42"

func slackSpec(t *testing.T, r *receiver) (api.NotificationChannel, string) {
	hook := r.srv.URL + "/hooks/T0001/B0002/" + slackToken
	sum := sha256.Sum256([]byte(hook))
	return api.NotificationChannel{Name: "chat", Type: api.ChannelSlack, Timeout: "5m",
		Slack: &api.SlackChannel{URLFile: writeSecret(t, "slack-url", hook+"\n"), URLSHA256: hex.EncodeToString(sum[:])}}, hook
}

// The incoming-webhook message: text and one attachment per alert.
func TestSlack_message(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	spec, _ := slackSpec(t, r)
	h := newHarness(t, t.TempDir(), nil, spec)
	h.enqueue("chat", notification(alert("disk_full", api.AlertFiring, "1"), alert("disk_full", api.AlertResolved, "<2>")))
	h.start()
	eventually(t, "the message", func() bool { return r.accepted() == 1 })
	r.mu.Lock()
	body := r.bodies[0]
	r.mu.Unlock()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"attachments", "text"}, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if got["text"] != "*[FIRING:1, RESOLVED:1] disk_full on web1*" {
		t.Errorf("text %q", got["text"])
	}
	var msg slackMessage
	_ = json.Unmarshal(body, &msg)
	if len(msg.Attachments) != 2 {
		t.Fatalf("%d attachments; want one per alert", len(msg.Attachments))
	}
	first, second := msg.Attachments[0], msg.Attachments[1]
	if first.Color != slackFiring || first.Title != "[FIRING] disk_full" || first.Text != "disk almost full (1)" {
		t.Errorf("firing attachment %+v", first)
	}
	if second.Color != slackResolved || second.Text != "disk almost full (&lt;2&gt;)" {
		t.Errorf("resolved attachment %+v; want the resolved colour and <> escaped", second)
	}
	if first.Fields[0] != (slackField{Title: "Value", Value: "93.5", Short: true}) {
		t.Errorf("value field %+v", first.Fields[0])
	}
}

// The URL is a secret: never in an error, the history, the status or the
// log, whether the receiver fails or cannot be reached; a URL whose digest
// is not the reviewed one is not used.
func TestSlack_urlNeverShown(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	r.set(http.StatusInternalServerError)
	spec, hook := slackSpec(t, r)
	h := newHarness(t, t.TempDir(), nil, spec)
	h.enqueue("chat", notification(alert("disk_full", api.AlertFiring, "1")))
	h.start()
	eventually(t, "a failed attempt", func() bool { return h.status("chat").Failed >= 1 })
	r.srv.Close() // now unreachable: net/http's error would name the URL
	h.drive(h.status("chat").LastErrorAt.Sub(h.clock.Now())+10*60e9, "a refused connection", func() bool {
		return strings.Contains(h.status("chat").LastError, "connection refused")
	})
	st := h.status("chat")
	if want := api.RedactURL(hook); !strings.Contains(st.LastError, want) || want != strings.TrimSuffix(r.srv.URL, "/")+"/…" {
		t.Errorf("last error %q; want the URL shown as %s", st.LastError, want)
	}
	h.stop()
	hist, _ := os.ReadFile(filepath.Join(h.dir, "history.jsonl"))
	for where, text := range map[string]string{"log": h.log.String(), "history": string(hist), "status": st.LastError} {
		if strings.Contains(text, slackToken) || strings.Contains(text, "/hooks/") {
			t.Errorf("the webhook URL is in the %s:\n%s", where, text)
		}
	}

	// An edited URL file no longer matches url_sha256: refused, not sent.
	r2 := newReceiver(t)
	spec2, _ := slackSpec(t, r2)
	if err := os.WriteFile(spec2.Slack.URLFile, []byte(r2.srv.URL+"/hooks/other"), 0o600); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, t.TempDir(), nil, spec2)
	err := h2.n.Test(t.Context(), "chat")
	if err == nil || !strings.Contains(err.Error(), "url_sha256") || strings.Contains(err.Error(), "/hooks/") {
		t.Errorf("Test with an edited URL file: %v; want a refusal that does not show the URL", err)
	}
	if r2.tried() != 0 {
		t.Errorf("the edited URL got %d requests", r2.tried())
	}
}
