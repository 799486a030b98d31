package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// sender delivers to one channel's receiver in its format.
type sender interface {
	// send delivers m once. It returns nil when the receiver accepted it,
	// a *rejectedError when the receiver refused it as malformed (sending
	// it again cannot help), a *partialError when it was delivered but not
	// to every URL, and any other error for a failure worth retrying. ctx
	// carries the attempt's timeout. Errors never hold a secret.
	send(ctx context.Context, m message) error
}

// message is one delivery attempt's content.
type message struct {
	id    string // api.DeliveryIDHeader
	event string // api.Delivery* event
	n     api.Notification
	now   time.Time
}

// rejectedError is a receiver's refusal of the content itself.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

// partialError is a delivery that reached some of a channel's URLs.
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// newSender builds the sender of a validated spec with its defaults.
func (n *Notifier) newSender(spec api.NotificationChannel) sender {
	switch spec.Type {
	case api.ChannelWebhook:
		return &webhookSender{n: n, channel: spec.Name, cfg: *spec.Webhook}
	case api.ChannelAlertmanager:
		resend, _ := api.ParseDuration(spec.Alertmanager.ResendInterval)
		return &alertmanagerSender{n: n, cfg: *spec.Alertmanager, resend: resend}
	case api.ChannelEmail:
		return &emailSender{n: n, channel: spec.Name, cfg: *spec.Email}
	case api.ChannelSlack:
		return &slackSender{n: n, cfg: *spec.Slack}
	default:
		return &commandSender{n: n, channel: spec.Name, cfg: *spec.Command}
	}
}

// maxSecretBytes bounds a secret file: a password, a key or a URL.
const maxSecretBytes = 64 << 10

// readSecretFile reads a secret from a file on the host, at send time so a
// rotated secret applies at once. It must be a regular file owned by the
// agent's user and neither writable by its group nor open to others at
// all. One trailing newline is dropped. Errors name the file, never its
// content.
func readSecretFile(attr, file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", attr, err)
	}
	defer func() { _ = f.Close() }() // read-only
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", attr, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s %s: not a regular file", attr, file)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return "", fmt.Errorf("%s %s: mode %04o lets other users read or change the secret: want 0600 or 0640", attr, file, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("%s %s: owned by uid %d, not by the agent's user (uid %d), who alone may set its secret", attr, file, st.Uid, os.Geteuid())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: read %s: %w", attr, file, err)
	}
	if len(b) > maxSecretBytes {
		return "", fmt.Errorf("%s %s: larger than %d bytes", attr, file, maxSecretBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s %s: empty", attr, file)
	}
	return s, nil
}

// setAuthorization sets the Authorization header from file, when set.
func setAuthorization(header http.Header, attr, file string) error {
	if file == "" {
		return nil
	}
	auth, err := readSecretFile(attr, file)
	if err != nil {
		return err
	}
	header.Set("Authorization", auth)
	return nil
}

// readSecretURL reads a URL that is itself a credential from a file and
// checks it without ever showing it.
func readSecretURL(attr, file string) (string, error) {
	raw, err := readSecretFile(attr, file)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, " \r\n\t") {
		return "", fmt.Errorf("%s %s: does not hold one http:// or https:// URL", attr, file)
	}
	return raw, nil
}

// postJSON sends body to rawURL and classifies the answer: 2xx accepted;
// 400, 413 and 422 (the content is malformed, too large or refused) a
// *rejectedError; anything else, including a redirect (never followed:
// a POST would turn into a GET), an error worth retrying. Errors show the
// URL redacted.
func (n *Notifier) postJSON(ctx context.Context, method, rawURL string, body []byte, header http.Header) error {
	shown := api.RedactURL(rawURL)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(method), shown, scrubURLError(err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "steward-agent")
	resp, err := n.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(method), shown, scrubURLError(err))
	}
	defer func() { _ = resp.Body.Close() }() // the answer was read as far as needed
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s %s: HTTP %s%s", strings.ToLower(method), shown, resp.Status, answerText(snippet))
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return &rejectedError{err}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("%w (redirects are not followed: set the URL it redirects to)", err)
	}
	return err
}

// scrubURLError drops the URL net/http puts into its errors: it may hold
// a token.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// answerText is a receiver's answer body as one short printable line.
func answerText(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(string(b)))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// newHTTPClient is the default client: no redirects, TLS 1.2 or later, no
// timeout of its own (each attempt's context carries the channel's).
func newHTTPClient() *http.Client {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone()
	}
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
