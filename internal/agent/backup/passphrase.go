package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// age allows a passphrase (scrypt) recipient only as the sole recipient of a
// file, so an archive cannot be encrypted to the operators' keys and to a
// passphrase at once. Instead, a schedule with a PassphraseFile gets its own
// X25519 restore key: the archive is encrypted to it as one more recipient,
// and the key itself is stored in the destination as
// "<schedule>/restore-key.age", encrypted to the passphrase alone. Stock
// tools can follow the same two steps (see doc.go).

func (e *Engine) restoreRecipientCache(schedule string) string {
	return filepath.Join(e.scheduleStateDir(schedule), "restore-recipient.txt")
}

// restoreRecipient returns the public half of the schedule's restore key,
// creating the key on first use. The caller holds the schedule lock.
func (e *Engine) restoreRecipient(ctx context.Context, schedule, passphraseFile string) (age.Recipient, error) {
	r, err := e.cachedRestoreRecipient(schedule)
	if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	pass, err := readPassphrase(passphraseFile)
	if err != nil {
		return nil, err
	}
	id, err := e.loadRestoreKey(ctx, schedule, pass)
	if errors.Is(err, fs.ErrNotExist) {
		id, err = e.createRestoreKey(ctx, schedule, pass)
	}
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(e.restoreRecipientCache(schedule), []byte(id.Recipient().String()+"\n")); err != nil {
		return nil, err
	}
	return id.Recipient(), nil
}

// cachedRestoreRecipient is the public half of the schedule's restore key
// as this host last saw it; fs.ErrNotExist when it has not yet.
func (e *Engine) cachedRestoreRecipient(schedule string) (age.Recipient, error) {
	b, err := os.ReadFile(e.restoreRecipientCache(schedule))
	if err != nil {
		return nil, err
	}
	r, err := age.ParseX25519Recipient(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("restore key recipient %s: %w", e.restoreRecipientCache(schedule), err)
	}
	return r, nil
}

func (e *Engine) createRestoreKey(ctx context.Context, schedule, pass string) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate restore key: %w", err)
	}
	sr, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, fmt.Errorf("restore key: %w", err)
	}
	if e.scryptWorkFactor > 0 {
		sr.SetWorkFactor(e.scryptWorkFactor)
	}
	name := schedule + "/" + restoreKeyName
	up, err := e.Dest.Create(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	w, err := age.Encrypt(up, sr)
	if err == nil {
		_, err = io.WriteString(w, "# steward restore key for schedule "+schedule+"\n"+id.String()+"\n")
		if err == nil {
			err = w.Close()
		}
	}
	if err == nil {
		err = up.Commit()
	}
	if err != nil {
		_ = up.Abort()
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	e.logger().Info("restore key created", "schedule", schedule, "object", name)
	return id, nil
}

func (e *Engine) loadRestoreKey(ctx context.Context, schedule, pass string) (*age.X25519Identity, error) {
	name := schedule + "/" + restoreKeyName
	data, err := readAllLimited(ctx, e.Dest, name, 64<<10)
	if err != nil {
		return nil, err
	}
	si, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, fmt.Errorf("restore key %s: %w", name, err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), si)
	if err != nil {
		return nil, fmt.Errorf("decrypt restore key %s (wrong passphrase?): %w", name, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decrypt restore key %s: %w", name, err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("restore key %s: want one identity: %v", name, err)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("restore key %s: not an X25519 identity", name)
	}
	return id, nil
}

// PassphraseIdentity returns the identity that decrypts a schedule's
// snapshots given the passphrase in passphraseFile, for hosts that restore
// themselves. It reads the schedule's restore key from the destination.
func (e *Engine) PassphraseIdentity(ctx context.Context, schedule, passphraseFile string) (age.Identity, error) {
	pass, err := readPassphrase(passphraseFile)
	if err != nil {
		return nil, err
	}
	return e.loadRestoreKey(ctx, schedule, pass)
}
