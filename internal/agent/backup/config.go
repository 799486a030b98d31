package backup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// Config describes one backup schedule: what to save and who may read it.
type Config struct {
	// Name is the schedule name, [a-z0-9_-]+. Each schedule writes under its
	// own prefix "<Name>/" in the destination.
	Name string
	// Paths are absolute paths to back up. Nested paths are folded into the
	// outer one.
	Paths []string
	// Exclude holds glob patterns (path.Match syntax) matched against both the
	// full path and the base name of every entry.
	Exclude []string
	// Recipients are age X25519 public keys ("age1..."); at least one. The host
	// needs only these, so it can write backups it cannot read.
	Recipients []string
	// PassphraseFile, when set, names a file holding a passphrase. The archive
	// is then also encrypted to a per-schedule restore key that is itself
	// stored in the destination encrypted with that passphrase, so the host
	// can restore itself (see doc.go for why not directly to the passphrase).
	PassphraseFile string
	// FullEveryRuns makes every Nth run a full snapshot; <= 1 means always full.
	FullEveryRuns int
	// FullEveryAge also forces a full snapshot when the last full one is at
	// least this old; zero disables the rule.
	FullEveryAge time.Duration
	// Dumps are commands whose standard output is stored as dumps/<Name>.
	Dumps []Dump
}

// Dump is a command whose standard output is stored in the snapshot as the
// file dumps/<Name>. A non-zero exit fails the run. The command runs without a
// shell.
type Dump struct {
	Name    string
	Command []string
}

var (
	scheduleNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	dumpNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// validate checks cfg and returns the parsed recipients and the roots to
// walk, sorted in walk order with nested roots removed.
func (cfg Config) validate() ([]age.Recipient, []string, error) {
	if !scheduleNameRE.MatchString(cfg.Name) {
		return nil, nil, fmt.Errorf("schedule name %q: must match [a-z0-9_-]+", cfg.Name)
	}
	if len(cfg.Paths) == 0 && len(cfg.Dumps) == 0 {
		return nil, nil, errors.New("schedule " + cfg.Name + ": no paths and no dumps to back up")
	}
	if len(cfg.Recipients) == 0 {
		return nil, nil, errors.New("schedule " + cfg.Name + ": at least one age recipient is required")
	}
	recipients := make([]age.Recipient, 0, len(cfg.Recipients))
	for _, r := range cfg.Recipients {
		rec, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return nil, nil, fmt.Errorf("schedule %s: recipient %q: %w", cfg.Name, r, err)
		}
		recipients = append(recipients, rec)
	}
	for _, p := range cfg.Exclude {
		if _, err := path.Match(p, ""); err != nil {
			return nil, nil, fmt.Errorf("schedule %s: exclude pattern %q: %w", cfg.Name, p, err)
		}
	}
	seen := map[string]bool{}
	for _, d := range cfg.Dumps {
		if !dumpNameRE.MatchString(d.Name) || d.Name == "." || d.Name == ".." {
			return nil, nil, fmt.Errorf("schedule %s: dump name %q: must match [A-Za-z0-9_.-]+", cfg.Name, d.Name)
		}
		if seen[d.Name] {
			return nil, nil, fmt.Errorf("schedule %s: dump name %q used twice", cfg.Name, d.Name)
		}
		seen[d.Name] = true
		if len(d.Command) == 0 {
			return nil, nil, fmt.Errorf("schedule %s: dump %s: empty command", cfg.Name, d.Name)
		}
	}
	roots := make([]string, 0, len(cfg.Paths))
	for _, p := range cfg.Paths {
		if !filepath.IsAbs(p) {
			return nil, nil, fmt.Errorf("schedule %s: path %q is not absolute", cfg.Name, p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == ".." {
				return nil, nil, fmt.Errorf("schedule %s: path %q contains \"..\"", cfg.Name, p)
			}
		}
		clean := filepath.Clean(p)
		if len(cfg.Dumps) > 0 && (clean == "/" || clean == "/dumps" || strings.HasPrefix(clean, "/dumps/")) {
			return nil, nil, fmt.Errorf("schedule %s: path %q would collide with the dumps/ directory of the archive", cfg.Name, p)
		}
		if err := CheckSourcePath(clean); err != nil {
			return nil, nil, fmt.Errorf("schedule %s: path %s: %w", cfg.Name, clean, err)
		}
		roots = append(roots, clean)
	}
	return recipients, foldRoots(roots), nil
}

// CheckSourcePath checks that the configured path abs (absolute and clean)
// exists, reached without following a symlink in its directories: the
// backup walk never follows one there, because a user who owns such a
// directory could otherwise point the walk at any tree on the host. A
// symlink as the last component is fine; it is backed up as a symlink.
func CheckSourcePath(abs string) error {
	if !filepath.IsAbs(abs) {
		return fmt.Errorf("path %q is not absolute", abs)
	}
	var st unix.Stat_t
	return lstatNoFollow(filepath.Clean(abs), &st)
}

// foldRoots sorts roots in walk order and drops any root inside another.
func foldRoots(roots []string) []string {
	sorted := append([]string(nil), roots...)
	sortWalkOrder(sorted)
	out := sorted[:0]
	for _, r := range sorted {
		if len(out) > 0 {
			last := out[len(out)-1]
			if r == last || last == "/" || strings.HasPrefix(r, last+"/") {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// excluded reports whether full (an absolute path) matches a pattern, either
// as a whole or by its base name.
func excluded(patterns []string, full string) bool {
	base := path.Base(full)
	for _, p := range patterns {
		if ok, _ := path.Match(p, full); ok {
			return true
		}
		if ok, _ := path.Match(p, base); ok {
			return true
		}
	}
	return false
}

// readPassphrase reads a passphrase file, dropping one trailing newline.
func readPassphrase(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read passphrase file %s: %w", file, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("passphrase file %s is empty", file)
	}
	return s, nil
}
