package backup

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// benchTree returns a generated tree: 10,000 small files in 100 directories
// and four 20 MiB files, half of everything compressible. Set
// STEWARD_BENCH_TREE to keep it between runs (and to time tar | zstd on the
// same data); it is generated when missing.
//
//	STEWARD_BENCH_TREE=/var/tmp/steward-bench go test -run XXX -bench Backup -benchtime 3x ./internal/agent/backup/
func benchTree(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("STEWARD_BENCH_TREE")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "tree")
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over the lazy dog while steward keeps backups of etc and var lib")
	fill := func(buf []byte, compressible bool) {
		if !compressible {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			return
		}
		var sb strings.Builder
		for sb.Len() < len(buf) {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(" \n"[rng.IntN(8)/7])
		}
		copy(buf, sb.String())
	}
	for i := range 10000 {
		buf := make([]byte, 100+rng.IntN(8000))
		fill(buf, i%2 == 0)
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i%100), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	big := make([]byte, 20<<20)
	for i := range 4 {
		fill(big, i%2 == 0)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("big%d", i)), big, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

func benchSetup(b *testing.B) (*Engine, Config, *age.X25519Identity, string) {
	b.Helper()
	tree := benchTree(b)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{Dest: Dir{Path: b.TempDir()}, StateDir: b.TempDir()}
	cfg := Config{Name: "bench", Paths: []string{tree}, Recipients: []string{id.Recipient().String()}}
	return e, cfg, id, tree
}

func treeBytes(root string) int64 {
	var n int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func BenchmarkBackup(b *testing.B) {
	b.Run("full", func(b *testing.B) {
		e, cfg, _, tree := benchSetup(b)
		cfg.FullEveryRuns = 1
		b.SetBytes(treeBytes(tree))
		b.ResetTimer()
		for range b.N {
			if _, err := e.Backup(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nochange", func(b *testing.B) {
		e, cfg, _, _ := benchSetup(b)
		cfg.FullEveryRuns = 1 << 30
		if _, err := e.Backup(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			s, err := e.Backup(context.Background(), cfg)
			if err != nil || s.Files != 0 {
				b.Fatal(err, s.Files)
			}
		}
	})
	b.Run("walkstat", func(b *testing.B) {
		tree := benchTree(b)
		for range b.N {
			n := 0
			err := filepath.WalkDir(tree, func(_ string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				_, err = d.Info()
				n++
				return err
			})
			if err != nil || n == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		e, cfg, id, tree := benchSetup(b)
		if _, err := e.Backup(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(treeBytes(tree))
		b.ResetTimer()
		for i := range b.N {
			target := filepath.Join(b.TempDir(), fmt.Sprint(i))
			if _, err := e.Restore(context.Background(), RestoreOptions{Schedule: "bench", Snapshot: "latest", Target: target, Identities: []age.Identity{id}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
