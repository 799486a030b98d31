package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultTimeout bounds connecting (including retries) when a Config sets none.
const DefaultTimeout = 60 * time.Second

// Hop is one SSH endpoint: the target host or one bastion on the way to it.
// Every hop carries its own authentication and its own host-key trust.
type Hop struct {
	Host string
	Port int
	User string

	// Authentication. Any combination may be set; they are offered in the
	// order certificate/key, agent, password.
	PrivateKey           string // PEM or OpenSSH private key text.
	PrivateKeyFile       string // Path to a private key file on the machine running Terraform.
	PrivateKeyPassphrase string // Passphrase of an encrypted key.
	Certificate          string // SSH user certificate (authorized_keys format) for the key.
	UseAgent             bool   // Offer the keys of the ssh-agent at AgentSocket.
	AgentSocket          string // Defaults to $SSH_AUTH_SOCK.
	Password             string // Discouraged; kept for hosts that allow nothing else.

	// Host-key trust. Exactly one of these must be set.
	HostKey         string // Pinned key, authorized_keys format ("ssh-ed25519 AAAA...").
	KnownHostsFile  string // known_hosts file; hashed entries and @cert-authority lines work.
	TrustOnFirstUse bool   // Accept the first key seen; the caller pins Conn.HostKey.
}

// Config says how to reach one host.
type Config struct {
	Hop
	// Bastions are dialled in order; the last one opens the TCP stream to Hop.
	Bastions []Hop
	// Sudo runs commands as root through `sudo -n`.
	Sudo bool
	// Timeout bounds connecting, retries included.
	Timeout time.Duration
}

// Address returns host:port.
func (h Hop) Address() string {
	return net.JoinHostPort(h.Host, strconv.Itoa(h.port()))
}

func (h Hop) port() int {
	if h.Port == 0 {
		return 22
	}
	return h.Port
}

func (h Hop) label() string {
	return h.User + "@" + h.Address()
}

// hops returns the bastions in order, then the target.
func (c Config) hops() []Hop {
	return append(append([]Hop{}, c.Bastions...), c.Hop)
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Validate reports every problem of the hop, each naming the field it is about.
// It touches neither the network nor files: private_key, certificate and
// host_key text is parsed to check it, private_key_file is not read.
func (h Hop) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(h.Host) == "" {
		add("host", "is required: a DNS name or an IP address")
	} else if strings.ContainsAny(h.Host, " \t\n/@") {
		add("host", "must be a DNS name or an IP address, got %q", h.Host)
	}
	if h.Port < 0 || h.Port > 65535 {
		add("port", "must be between 1 and 65535, got %d", h.Port)
	}
	if h.User == "" {
		add("user", "is required: the login name on the host")
	}
	if h.PrivateKey != "" && h.PrivateKeyFile != "" {
		add("private_key", "conflicts with private_key_file: set one of them")
	}
	if h.PrivateKey == "" && h.PrivateKeyFile == "" && !h.UseAgent && h.Password == "" {
		add("private_key", "no authentication is configured: set private_key, private_key_file, use_agent or password")
	}
	if h.PrivateKey != "" {
		_, err := parseSigner([]byte(h.PrivateKey), h.PrivateKeyPassphrase)
		switch {
		case errors.Is(err, x509.IncorrectPasswordError):
			add("private_key_passphrase", "does not decrypt the private key: check the passphrase")
		case err != nil:
			add("private_key", "is not a usable private key (OpenSSH or PEM): %v", err)
		}
	}
	if h.Certificate != "" {
		if _, err := parseCertificate(h.Certificate); err != nil {
			add("certificate", "is not an SSH user certificate in authorized_keys format (ssh-ed25519-cert-v01@openssh.com AAAA...): %v", err)
		}
		if h.PrivateKey == "" && h.PrivateKeyFile == "" {
			add("certificate", "needs the private key it certifies: set private_key or private_key_file")
		}
	}
	trust := 0
	if h.HostKey != "" {
		trust++
		if _, err := ParseHostKey(h.HostKey); err != nil {
			add("host_key", "must be a public key in authorized_keys format (\"ssh-ed25519 AAAA...\"), as in /etc/ssh/ssh_host_ed25519_key.pub: %v", err)
		}
	}
	if h.KnownHostsFile != "" {
		trust++
	}
	if h.TrustOnFirstUse {
		trust++
	}
	switch {
	case trust == 0:
		add("host_key", "host keys are always verified: set host_key, known_hosts_file or trust_on_first_use = true")
	case trust > 1:
		add("host_key", "set only one of host_key, known_hosts_file and trust_on_first_use")
	}
	return errs
}

// FieldError is a configuration problem tied to one field of a Hop or Config.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + " " + e.Message }

// ParseHostKey parses a public key in authorized_keys format, the form of
// /etc/ssh/ssh_host_*_key.pub. A trailing comment is allowed.
func ParseHostKey(s string) (ssh.PublicKey, error) {
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(s)))
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("more than one key given")
	}
	return key, nil
}

// Fingerprint returns the SHA256 fingerprint of an authorized_keys-format
// public key, as ssh-keygen -l prints it.
func Fingerprint(authorizedKey string) (string, error) {
	k, err := ParseHostKey(authorizedKey)
	if err != nil {
		return "", err
	}
	return ssh.FingerprintSHA256(k), nil
}

// ParseTimeout parses a Go duration ("30s", "2m"), which must be positive.
func ParseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration like \"30s\" or \"2m\": %w", err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", s)
	}
	return d, nil
}

func parseSigner(pem []byte, passphrase string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, errors.New("the key is encrypted: set private_key_passphrase")
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	if err != nil {
		return nil, err
	}
	return signer, nil
}

func parseCertificate(s string) (*ssh.Certificate, error) {
	pub, err := ParseHostKey(s)
	if err != nil {
		return nil, err
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("got a plain %s key, not a certificate", pub.Type())
	}
	if cert.CertType != ssh.UserCert {
		return nil, errors.New("this is a host certificate, not a user certificate")
	}
	return cert, nil
}

func readKeyFile(path string) ([]byte, error) {
	path, err := expandHome(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key file: %w", err)
	}
	return b, nil
}

func expandHome(path string) (string, error) {
	if !strings.HasPrefix(path, "~/") {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", path, err)
	}
	return home + path[1:], nil
}

// CheckPrivateKey reports whether text is a private key this package can use.
// An encrypted key passes: its passphrase is checked when connecting.
func CheckPrivateKey(text string) error {
	_, err := ssh.ParseRawPrivateKey([]byte(text))
	var missing *ssh.PassphraseMissingError
	if err == nil || errors.As(err, &missing) {
		return nil
	}
	return err
}

// CheckCertificate reports whether s is an SSH user certificate in
// authorized_keys format.
func CheckCertificate(s string) error {
	_, err := parseCertificate(s)
	return err
}
