package client

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyVerifier checks the key a hop presents against the hop's trust
// source. It remembers the key it saw so the caller can pin it (trust on
// first use) and report its fingerprint. A mismatch comes back from the
// handshake wrapped in its error, where errors.As finds it.
type hostKeyVerifier struct {
	check ssh.HostKeyCallback
	algos []string
	mu    sync.Mutex
	seen  ssh.PublicKey
}

// plainHostKeyAlgorithms are the key types trust on first use accepts.
var plainHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// certAlgorithms maps a plain host key algorithm to its certificate form.
var certAlgorithms = map[string]string{
	ssh.KeyAlgoED25519:   ssh.CertAlgoED25519v01,
	ssh.KeyAlgoECDSA256:  ssh.CertAlgoECDSA256v01,
	ssh.KeyAlgoECDSA384:  ssh.CertAlgoECDSA384v01,
	ssh.KeyAlgoECDSA521:  ssh.CertAlgoECDSA521v01,
	ssh.KeyAlgoRSASHA512: ssh.CertAlgoRSASHA512v01,
	ssh.KeyAlgoRSASHA256: ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoRSA:       ssh.CertAlgoRSAv01,
}

// withCertificates offers each algorithm's certificate form before it. A
// pinned key or a first-use key is compared as the plain key a certificate
// certifies, so the trust is the same; but a host that has a certificate
// presents it, and the pooled connection then carries a key that a
// configuration trusting the host's CA can verify too (verifyKnownKey).
func withCertificates(algos []string) []string {
	out := make([]string, 0, 2*len(algos))
	for _, a := range algos {
		if c, ok := certAlgorithms[a]; ok {
			out = append(out, c)
		}
	}
	return append(out, algos...)
}

func newHostKeyVerifier(h Hop) (*hostKeyVerifier, error) {
	v := &hostKeyVerifier{}
	switch {
	case h.HostKey != "":
		pinned, err := ParseHostKey(h.HostKey)
		if err != nil {
			return nil, fmt.Errorf("parse host_key of %s: %w", h.Address(), err)
		}
		pinned = plainKey(pinned)
		v.algos = withCertificates(algorithmsFor(pinned))
		v.check = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			key = plainKey(key)
			if bytes.Equal(key.Marshal(), pinned.Marshal()) {
				return nil
			}
			return &HostKeyMismatchError{
				Address:   h.Address(),
				Expected:  ssh.FingerprintSHA256(pinned),
				Presented: ssh.FingerprintSHA256(key),
				Reason:    "the host_key pinned in the configuration does not match",
			}
		}
	case h.KnownHostsFile != "":
		file, err := expandHome(h.KnownHostsFile)
		if err != nil {
			return nil, err
		}
		cb, err := knownhosts.New(file)
		if err != nil {
			return nil, fmt.Errorf("read known_hosts_file %s: %w", file, err)
		}
		v.check = knownHostsCheck(cb, h.Address(), file)
	case h.TrustOnFirstUse:
		v.algos = withCertificates(plainHostKeyAlgorithms)
		v.check = func(string, net.Addr, ssh.PublicKey) error { return nil }
	default:
		return nil, fmt.Errorf("no host key trust configured for %s: set host_key, known_hosts_file or trust_on_first_use", h.Address())
	}
	return v, nil
}

// knownHostsCheck accepts a host certificate signed by an @cert-authority of
// the file, and otherwise the host's plain key listed in the file.
func knownHostsCheck(cb ssh.HostKeyCallback, address, file string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		presented := key
		if cert, ok := key.(*ssh.Certificate); ok {
			presented = cert.Key
			if err = cb(hostname, remote, cert.Key); err == nil {
				return nil
			}
		}
		mismatch := func(expected, reason string) error {
			return &HostKeyMismatchError{Address: address, Expected: expected, Presented: ssh.FingerprintSHA256(presented), Reason: reason}
		}
		var keyErr *knownhosts.KeyError
		if errors.As(err, &keyErr) {
			if len(keyErr.Want) == 0 {
				return mismatch("an entry in "+file, "the host is not listed in known_hosts_file and no @cert-authority line vouches for it")
			}
			want := make([]string, 0, len(keyErr.Want))
			for _, w := range keyErr.Want {
				want = append(want, ssh.FingerprintSHA256(w.Key))
			}
			return mismatch(strings.Join(want, " or "), "known_hosts_file lists another key for this host")
		}
		var revoked *knownhosts.RevokedError
		if errors.As(err, &revoked) {
			return mismatch("a key not marked @revoked", "the key is revoked in "+file)
		}
		return mismatch("a key trusted by "+file, err.Error())
	}
}

func algorithmsFor(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

// plainKey returns the key a host certificate certifies, or k itself.
func plainKey(k ssh.PublicKey) ssh.PublicKey {
	if c, ok := k.(*ssh.Certificate); ok {
		return c.Key
	}
	return k
}

// callback is the ssh.HostKeyCallback given to the handshake.
func (v *hostKeyVerifier) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	v.mu.Lock()
	v.seen = key
	v.mu.Unlock()
	return v.check(hostname, remote, key)
}

// presented returns the key as the host presented it: a certificate stays a
// certificate, so a later check against an @cert-authority line still passes.
func (v *hostKeyVerifier) presented() ssh.PublicKey {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen
}

// verifyKnownKey checks a key seen earlier on a pooled connection against a
// (possibly different) configuration's trust, without a new handshake.
func verifyKnownKey(h Hop, remote net.Addr, key ssh.PublicKey) error {
	v, err := newHostKeyVerifier(h)
	if err != nil {
		return err
	}
	if h.TrustOnFirstUse {
		return nil
	}
	return v.check(h.Address(), remote, key)
}
