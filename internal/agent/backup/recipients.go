package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
)

// A snapshot's index records the exact set of public keys it was encrypted
// to (the schedule's recipients and, with a PassphraseFile, its restore
// key). An incremental needs its whole chain to restore, so a snapshot is
// incremental only when every snapshot of the chain it continues was
// encrypted to the same set: after a key rotation the next snapshot is
// full, and nothing made after it needs the retired key.

// recipientSet is the sorted, deduplicated set of the recipients' public
// keys in their canonical (lower-case bech32) form.
func recipientSet(rs []age.Recipient) []string {
	keys := make([]string, 0, len(rs))
	for _, r := range rs {
		if s, ok := r.(fmt.Stringer); ok {
			keys = append(keys, s.String())
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// sameRecipients reports whether every snapshot of chain was encrypted to
// exactly keys. A snapshot made before recipients were recorded is not.
func sameRecipients(chain []index, keys []string) bool {
	for _, ix := range chain {
		if !slices.Equal(ix.Recipients, keys) {
			return false
		}
	}
	return true
}

// decryptableBy reports whether any of keys is among a snapshot's
// recipients.
func decryptableBy(recipients, keys []string) bool {
	for _, k := range recipients {
		if slices.Contains(keys, k) {
			return true
		}
	}
	return false
}

// ReadableWith reports whether the snapshot is encrypted to one of keys.
func (s Snapshot) ReadableWith(keys []string) bool { return decryptableBy(s.Recipients, keys) }

// Recipients returns the public keys the next snapshot of cfg is encrypted
// to. With a PassphraseFile it uses the restore key this host already
// knows, and leaves it out when it knows none yet (it is made or fetched by
// the first run, which needs the passphrase).
func (e *Engine) Recipients(cfg Config) ([]string, error) {
	rs, _, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.PassphraseFile != "" {
		if r, err := e.cachedRestoreRecipient(cfg.Name); err == nil {
			rs = append(rs, r)
		}
	}
	return recipientSet(rs), nil
}

// NextKind says whether the next run of cfg takes a full or an incremental
// snapshot, without taking one.
func (e *Engine) NextKind(ctx context.Context, cfg Config) (string, error) {
	keys, err := e.Recipients(cfg)
	if err != nil {
		return "", err
	}
	ixs, _ := e.readIndexes(ctx, cfg.Name) // as Backup does, a tampered index is no parent
	kind, _ := e.chooseKind(cfg, keys, ixs, e.now())
	return kind, nil
}

// identityKeys returns the public keys of the X25519 identities among ids,
// and whether all of them are X25519 (the others do not name their key).
func identityKeys(ids []age.Identity) (keys []string, all bool) {
	all = true
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			keys = append(keys, x.Recipient().String())
		} else {
			all = false
		}
	}
	return keys, all
}

// identitiesCanRead reports whether the identities can decrypt every
// snapshot of chain, as far as the index tells: only X25519 identities
// name their public key, so with any other kind it assumes they can.
func identitiesCanRead(chain []index, ids []age.Identity) bool {
	have, all := identityKeys(ids)
	if !all {
		return true
	}
	for _, ix := range chain {
		if len(ix.Recipients) > 0 && !decryptableBy(ix.Recipients, have) {
			return false
		}
	}
	return true
}

// errNoIdentityFor explains a restore the given identities cannot decrypt:
// which snapshots of the chain need which public keys.
func errNoIdentityFor(chain []index, ids []age.Identity) error {
	have, _ := identityKeys(ids)
	var b strings.Builder
	for _, ix := range chain {
		fmt.Fprintf(&b, "\n  %s (%s): ", ix.ID, ix.Kind)
		switch {
		case len(ix.Recipients) == 0:
			b.WriteString("recipients not recorded (made before Steward recorded them)")
		case decryptableBy(ix.Recipients, have):
			b.WriteString("readable with the given identities")
		default:
			b.WriteString("needs one of " + strings.Join(ix.Recipients, ", "))
		}
	}
	return fmt.Errorf("%w; the chain restores from these snapshots:%s", ErrWrongKey, b.String())
}
