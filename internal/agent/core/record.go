package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Record appends one entry to the host's audit log: who (op) did what
// (action) to which object, the digests before and after, and the result
// ("ok" unless given).
func Record(p Paths, op api.Operator, object, action, before, after string, result ...string) error {
	res := "ok"
	if len(result) > 0 {
		res = result[0]
	}
	err := audit.Append(p.AuditLog, audit.Entry{Operator: op, Object: object, Action: action, Before: before, After: after, Result: res})
	if err != nil {
		return fmt.Errorf("append to audit log: %w", err)
	}
	return nil
}

// WriteIfChanged writes data atomically unless the file already holds it. It
// returns whether it wrote and the digest of what was there before.
func WriteIfChanged(path string, data []byte, mode os.FileMode) (bool, string, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != mode {
			return true, Digest(old), os.Chmod(path, mode)
		}
		return false, Digest(old), nil
	}
	before := ""
	if err == nil {
		before = Digest(old)
	}
	return true, before, atomicfile.Write(path, data, mode)
}

// Digest is how the audit log names content: "sha256:<hex>".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FileDigest is the Digest of a file's content; "" when it cannot be read.
func FileDigest(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
