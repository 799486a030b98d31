package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

type emailSender struct {
	n       *Notifier
	channel string
	cfg     api.EmailChannel
}

// send runs one SMTP session: connect (TLS from the start for implicit),
// EHLO, STARTTLS (required, for starttls), AUTH, MAIL, RCPT, DATA, QUIT.
// The session ends when ctx does: its connection is closed then.
func (s *emailSender) send(ctx context.Context, m message) error {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	fail := func(step string, err error) error { return fmt.Errorf("smtp %s: %s: %w", addr, step, err) }
	tlsConf, err := s.tlsConfig()
	if err != nil {
		return err
	}
	password := ""
	if s.cfg.PasswordFile != "" {
		if password, err = readSecretFile("email.password_file", s.cfg.PasswordFile); err != nil {
			return err
		}
	}
	msg, err := s.n.emailMessage(s.channel, s.cfg, m)
	if err != nil {
		return err
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("connect", err)
	}
	raw := conn
	// Closing the TCP connection unblocks a session with a server that
	// stalls at once, where a TLS close would first try to say goodbye.
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	defer func() { _ = raw.Close() }() // after QUIT, or on failure
	if s.cfg.TLS == api.SMTPImplicit {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake", ctxErr(ctx, err))
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fail("greeting", ctxErr(ctx, err))
	}
	if err := c.Hello(s.n.heloName()); err != nil {
		return fail("EHLO", ctxErr(ctx, err))
	}
	if s.cfg.TLS == api.SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("STARTTLS", errors.New("the server does not offer STARTTLS, and email.tls = \"starttls\" requires it"))
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return fail("STARTTLS", ctxErr(ctx, err))
		}
	}
	if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		auth, mech := pickAuth(ok, mechs, s.cfg.Username, password, s.cfg.TLS != api.SMTPNone)
		if auth == nil {
			return fail("AUTH", fmt.Errorf("the server offers no PLAIN or LOGIN authentication (it offers %q)", mechs))
		}
		if err := c.Auth(auth); err != nil {
			return fail("authenticate as "+s.cfg.Username+" ("+mech+")", ctxErr(ctx, err))
		}
	}
	from, _ := mail.ParseAddress(s.cfg.From) // validated with the spec
	if err := c.Mail(from.Address); err != nil {
		return fail("MAIL FROM", ctxErr(ctx, err))
	}
	for _, to := range s.cfg.To {
		a, _ := mail.ParseAddress(to)
		if err := c.Rcpt(a.Address); err != nil {
			return fail("RCPT TO "+a.Address, ctxErr(ctx, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", ctxErr(ctx, err))
	}
	if _, err := w.Write(msg); err != nil {
		return fail("DATA", ctxErr(ctx, err))
	}
	if err := w.Close(); err != nil {
		return fail("end of DATA", ctxErr(ctx, err))
	}
	// The message is accepted once DATA ends; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// ctxErr says "context canceled" instead of "use of closed network
// connection" when the session ended because its time was up.
func ctxErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}

func (s *emailSender) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.cfg.CAFile == "" {
		return c, nil
	}
	pem, err := readBounded(s.cfg.CAFile, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("email.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("email.ca_file %s: no PEM certificate in it", s.cfg.CAFile)
	}
	c.RootCAs = pool
	return c, nil
}

// heloName is the name the agent greets SMTP servers with.
func (n *Notifier) heloName() string {
	if n.cfg.Host != "" && hostnameOK(n.cfg.Host) {
		return n.cfg.Host
	}
	return "localhost"
}

// hostnameOK accepts letters, digits, dots and dashes: what EHLO may carry.
func hostnameOK(s string) bool { return heloPattern.MatchString(s) }

var heloPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

// pickAuth prefers PLAIN, else LOGIN, as the server offers them. Neither
// sends the password unless the session is encrypted or the spec accepted
// a loopback server without TLS.
func pickAuth(offered bool, mechs, user, password string, needTLS bool) (smtp.Auth, string) {
	if !offered {
		return nil, ""
	}
	list := strings.Fields(strings.ToUpper(mechs))
	switch {
	case slices.Contains(list, "PLAIN"):
		return &plainAuth{user: user, password: password, needTLS: needTLS}, "PLAIN"
	case slices.Contains(list, "LOGIN"):
		return &loginAuth{user: user, password: password, needTLS: needTLS}, "LOGIN"
	}
	return nil, ""
}

var errAuthWithoutTLS = errors.New("refusing to send the password over a connection without TLS")

// plainAuth is AUTH PLAIN (RFC 4616). Unlike net/smtp's, it accepts any
// loopback address without TLS when the spec said tls = "none" (which
// Validate allows only for loopback servers).
type plainAuth struct {
	user, password string
	needTLS        bool
}

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if a.needTLS && !server.TLS {
		return "", nil, errAuthWithoutTLS
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.password), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is AUTH LOGIN, which some servers offer alone.
type loginAuth struct {
	user, password string
	needTLS        bool
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if a.needTLS && !server.TLS {
		return "", nil, errAuthWithoutTLS
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	// "Username:", or "User Name\x00" as some servers (aiosmtpd) ask.
	switch strings.Trim(strings.ToLower(string(fromServer)), " \t\x00:") {
	case "username", "user name", "user":
		return []byte(a.user), nil
	case "password":
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected server challenge in AUTH LOGIN")
}

// emailMessage renders a notification as a plain-text e-mail: headers,
// then a quoted-printable body a person reads.
func (n *Notifier) emailMessage(channel string, cfg api.EmailChannel, m message) ([]byte, error) {
	from, _ := mail.ParseAddress(cfg.From)
	to := make([]string, 0, len(cfg.To))
	for _, t := range cfg.To {
		a, _ := mail.ParseAddress(t)
		to = append(to, a.String())
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject(m.n, m.event)))
	header("Date", m.now.Format(time.RFC1123Z))
	header("Message-ID", "<"+m.id+"."+strconv.FormatInt(m.now.UnixNano(), 36)+"@steward-agent>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header(api.DeliveryIDHeader, m.id)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(n.textBody(channel, m))); err != nil {
		return nil, fmt.Errorf("encode e-mail body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode e-mail body: %w", err)
	}
	return b.Bytes(), nil
}
