package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
)

// TestBackup_kindFollowsRecipients: a snapshot continues a chain only when
// the whole chain was encrypted to the same set of recipients; the order
// of the list and repeats do not change the set.
func TestBackup_kindFollowsRecipients(t *testing.T) {
	t.Parallel()
	a, b, c := testIdentity(t), testIdentity(t), testIdentity(t)
	keys := func(ids ...*age.X25519Identity) []string {
		var out []string
		for _, id := range ids {
			out = append(out, id.Recipient().String())
		}
		return out
	}
	tests := []struct {
		name string
		next []string
		want string
	}{
		{"same", keys(a, b), KindIncremental},
		{"reordered", keys(b, a), KindIncremental},
		{"repeated", keys(a, b, a), KindIncremental},
		{"added", keys(a, b, c), KindFull},
		{"removed", keys(a), KindFull},
		{"replaced", keys(a, c), KindFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := testEngine(t)
			src := t.TempDir()
			writeTree(t, src, map[string]*string{"f": ptr("1")})
			cfg := Config{Name: "etc", Paths: []string{src}, Recipients: keys(a, b), FullEveryRuns: 7}
			_, err := e.Backup(context.Background(), cfg)
			must(t, err)
			cfg.Recipients = tt.next
			next, err := e.NextKind(context.Background(), cfg)
			must(t, err)
			snap, err := e.Backup(context.Background(), cfg)
			must(t, err)
			if snap.Kind != tt.want || next != tt.want {
				t.Errorf("second snapshot is %s (NextKind said %s), want %s", snap.Kind, next, tt.want)
			}
			// And the new set's chain continues after its full snapshot.
			if snap, err = e.Backup(context.Background(), cfg); err != nil || snap.Kind != KindIncremental {
				t.Errorf("third snapshot: %s, %v; want incremental", snap.Kind, err)
			}
		})
	}
}

// TestBackup_rotationOnAnotherHost: a chain continued by a second host
// (its state copied, the documented "new host" path) with other recipients
// starts with a full snapshot too, and the new key alone restores it.
func TestBackup_rotationOnAnotherHost(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	old, fresh := testIdentity(t), testIdentity(t)
	src := t.TempDir()
	writeTree(t, src, map[string]*string{"f": ptr("1"), "d/g": ptr("2")})
	cfgFor := func(id *age.X25519Identity) Config {
		cfg := testConfig(id, src)
		cfg.FullEveryRuns = 7
		return cfg
	}
	_, err := e.Backup(context.Background(), cfgFor(old))
	must(t, err)

	second := Engine{Dest: e.Dest, StateDir: t.TempDir(), Now: e.Now, scryptWorkFactor: e.scryptWorkFactor}
	if out, err := exec.Command("cp", "-a", e.StateDir+"/.", second.StateDir).CombinedOutput(); err != nil {
		t.Fatalf("copy the state: %v\n%s", err, out)
	}
	same, err := second.NextKind(context.Background(), cfgFor(old))
	must(t, err)
	if same != KindIncremental {
		t.Fatalf("the second host would take a %s snapshot with the same key, want incremental (the state copy is incomplete)", same)
	}
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("changed"), 0o644))
	snap, err := second.Backup(context.Background(), cfgFor(fresh))
	must(t, err)
	if snap.Kind != KindFull {
		t.Fatalf("the second host continued the old key's chain: %s", snap.Kind)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, &second, fresh, "latest"), src))

	// The old key alone cannot read it, and the error says which key can.
	_, err = second.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: filepath.Join(t.TempDir(), "r"),
		Identities: []age.Identity{old}})
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "needs one of "+fresh.Recipient().String()) {
		t.Errorf("restore with the retired key: %v, want ErrWrongKey naming %s", err, fresh.Recipient())
	}
}

// countingDest counts the reads a Destination serves.
type countingDest struct {
	Destination
	mu    sync.Mutex
	lists int
	opens map[string]int
}

func (d *countingDest) List(ctx context.Context, prefix string) ([]string, error) {
	d.mu.Lock()
	d.lists++
	d.mu.Unlock()
	return d.Destination.List(ctx, prefix)
}

func (d *countingDest) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	d.mu.Lock()
	d.opens[name]++
	d.mu.Unlock()
	return d.Destination.Open(ctx, name)
}

// TestEngine_runReadsIndexesOnce: a run (the snapshot, then retention's
// list, then the status's list and next kind) reads each index once, not
// once per step (each is a round trip over SFTP).
func TestEngine_runReadsIndexesOnce(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := t.TempDir()
	writeTree(t, src, map[string]*string{"f": ptr("1")})
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 7
	for range 3 {
		_, err := e.Backup(context.Background(), cfg)
		must(t, err)
	}
	d := &countingDest{Destination: e.Dest, opens: map[string]int{}}
	run := &Engine{Dest: d, StateDir: e.StateDir, Now: e.Now, CacheIndexes: true}
	_, err := run.Backup(context.Background(), cfg)
	must(t, err)
	snaps, err := run.List(context.Background(), "etc")
	must(t, err)
	_, err = run.NextKind(context.Background(), cfg)
	must(t, err)
	if len(snaps) != 4 {
		t.Fatalf("list after the run has %d snapshots, want 4", len(snaps))
	}
	for name, n := range d.opens {
		if strings.HasSuffix(name, indexSuffix) && n > 1 {
			t.Errorf("%s read %d times", name, n)
		}
	}
	if d.lists != 2 { // the indexes, and the sweep of leftovers at the start of a run
		t.Errorf("the destination was listed %d times, want twice", d.lists)
	}
}
