package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// slackMessage is the incoming-webhook message Slack, Mattermost and
// Rocket.Chat accept: text, and one legacy attachment per alert.
type slackMessage struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
}

type slackAttachment struct {
	Fallback string       `json:"fallback"`
	Color    string       `json:"color"`
	Title    string       `json:"title"`
	Text     string       `json:"text,omitempty"`
	Fields   []slackField `json:"fields,omitempty"`
	Ts       int64        `json:"ts,omitempty"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// maxSlackAttachments keeps a message within what Slack shows (it
// truncates at 100 attachments); the text says how many were left out.
const maxSlackAttachments = 20

// Colours of firing and resolved alerts (hex, which all three accept).
const (
	slackFiring   = "#d63232"
	slackResolved = "#2eb67d"
)

type slackSender struct {
	n   *Notifier
	cfg api.SlackChannel
}

func (s *slackSender) send(ctx context.Context, m message) error {
	hook, err := slackHook(s.cfg)
	if err != nil {
		return err
	}
	body, err := json.Marshal(slackPayload(m))
	if err != nil {
		return fmt.Errorf("encode slack message: %w", err)
	}
	return s.n.postJSON(ctx, http.MethodPost, hook, body, nil)
}

func slackPayload(m message) slackMessage {
	msg := slackMessage{Text: "*" + slackEscape(subject(m.n, m.event)) + "*"}
	for i, a := range m.n.Alerts {
		if i == maxSlackAttachments {
			msg.Text += fmt.Sprintf("\n(%d more alerts not shown)", len(m.n.Alerts)-i)
			break
		}
		color := slackFiring
		if a.State != api.AlertFiring {
			color = slackResolved
		}
		var text []string
		for _, k := range []string{"summary", "description"} {
			if v := a.Annotations[k]; v != "" {
				text = append(text, slackEscape(v))
			}
		}
		att := slackAttachment{
			Fallback: slackEscape(fmt.Sprintf("[%s] %s on %s", strings.ToUpper(a.State), a.Rule, hostName(m.n))),
			Color:    color,
			Title:    slackEscape(fmt.Sprintf("[%s] %s", strings.ToUpper(a.State), a.Rule)),
			Text:     strings.Join(text, "\n"),
			Fields: []slackField{
				{Title: "Value", Value: formatValue(a.Value), Short: true},
				{Title: "Threshold", Value: formatValue(a.Threshold), Short: true},
				{Title: "Host", Value: slackEscape(hostName(m.n)), Short: true},
			},
		}
		if len(a.Labels) > 0 {
			att.Fields = append(att.Fields, slackField{Title: "Labels", Value: slackEscape(api.AlertLabelsString(a.Labels))})
		}
		if !a.StartsAt.IsZero() {
			att.Ts = a.StartsAt.Unix()
		}
		msg.Attachments = append(msg.Attachments, att)
	}
	return msg
}

// slackEscape escapes what Slack's mrkdwn reads as markup (links,
// mentions): &, < and >.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackHook reads the incoming-webhook URL from its file and checks it
// against the reviewed digest, when the spec has one.
func slackHook(cfg api.SlackChannel) (string, error) {
	hook, err := readSecretURL("slack.url_file", cfg.URLFile)
	if err != nil {
		return "", err
	}
	if cfg.URLSHA256 != "" {
		sum := sha256.Sum256([]byte(hook))
		if hex.EncodeToString(sum[:]) != cfg.URLSHA256 {
			return "", fmt.Errorf("slack.url_file %s: the URL in it does not have the SHA-256 of slack.url_sha256 (was it changed on the host?); not sending to a URL that was not reviewed", cfg.URLFile)
		}
	}
	return hook, nil
}
