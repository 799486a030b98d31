package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// peakRSS resets the kernel's record of this process's peak resident set
// (clear_refs 5) and returns a function that reads it back.
func peakRSS(t *testing.T) func() int64 {
	t.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS: %v", err)
	}
	return func() int64 {
		b, err := os.ReadFile("/proc/self/status")
		must(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				must(t, err)
				return kb << 10
			}
		}
		t.Fatal("no VmHWM in /proc/self/status")
		return 0
	}
}

// forgeManifest writes a manifest for ix, encrypted to recipient, whose
// second line is lineBytes long: 98 KB of such a manifest drove a root
// restore to 5.6 GB before the reader was bounded.
func forgeManifest(t *testing.T, file string, ix index, recipient age.Recipient, lineBytes int) (sum string, size int64) {
	t.Helper()
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipient)
	must(t, err)
	z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
	must(t, err)
	fmt.Fprintf(z, `{"header":{"version":1,"id":%q,"schedule":%q,"kind":"full"}}`+"\n"+`{"path":"`, ix.ID, ix.Schedule)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for n := 0; n < lineBytes; n += len(chunk) {
		_, err := z.Write(chunk)
		must(t, err)
	}
	must(t, z.Close())
	must(t, w.Close())
	must(t, os.WriteFile(file, out.Bytes(), 0o600))
	h := sha256.Sum256(out.Bytes())
	return hex.EncodeToString(h[:]), int64(out.Len())
}

// TestRestore_hostileManifestIsBounded is finding 5: a manifest replaced
// in the destination is refused before it is decrypted (its digest is in
// the authenticated index), and one that comes with a matching index (a
// writer who also holds the index key) is read with bounded memory.
// Neither a restore nor a dry run grows past restoreMemoryBound.
func TestRestore_hostileManifestIsBounded(t *testing.T) {
	e, dest := testEngine(t)
	id := testIdentity(t)
	src := t.TempDir()
	writeTree(t, src, map[string]*string{"a": ptr("a"), "d/b": ptr("b")})
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	ixs, err := e.readIndexes(context.Background(), "etc")
	must(t, err)
	ix := ixs[0]
	file := filepath.Join(dest, filepath.FromSlash(manifestObject("etc", snap.ID)))
	sum, size := forgeManifest(t, file, ix, id.Recipient(), 512<<20)
	t.Logf("forged manifest: %d bytes, a %d MiB line", size, 512)

	restore := func(dry bool) error {
		_, err := e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: filepath.Join(t.TempDir(), "r"),
			DryRun: dry, Identities: []age.Identity{id}})
		return err
	}
	for _, dry := range []bool{false, true} {
		peak := peakRSS(t)
		err := restore(dry)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "index says") {
			t.Errorf("dry run %v of a swapped manifest: %v, want ErrCorrupt from the index's digest", dry, err)
		}
		if p := peak(); p > restoreMemoryBound {
			t.Errorf("dry run %v of a swapped manifest peaked at %d MiB, bound %d MiB", dry, p>>20, restoreMemoryBound>>20)
		}
	}

	// The attacker holds the index key too.
	key, err := loadIndexKey(e.StateDir)
	must(t, err)
	ix.ManifestSHA256, ix.ManifestBytes = sum, size
	sealed, err := ix.seal(key)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dest, filepath.FromSlash(indexObject("etc", snap.ID))), sealed, 0o600))
	for _, dry := range []bool{false, true} {
		peak := peakRSS(t)
		err := restore(dry)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("dry run %v of a forged manifest: %v, want ErrCorrupt for the long line", dry, err)
		}
		p := peak()
		t.Logf("dry run %v of a forged manifest: peak RSS %d MiB", dry, p>>20)
		if p > restoreMemoryBound {
			t.Errorf("dry run %v of a forged manifest peaked at %d MiB, bound %d MiB", dry, p>>20, restoreMemoryBound>>20)
		}
	}
}

// restoreMemoryBound is the documented bound on a restore's resident
// memory (docs: backup_schedule, "Threat model"), this test process's own
// baseline included.
const restoreMemoryBound = 96 << 20
