package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Confirm-or-revert (DESIGN.md §3, Safety; api/change.go). A change that
// can cut access is applied only after its way back is on disk and a timer
// that runs it is armed in systemd, so the revert happens even if the SSH
// session, the rpc process and the daemon all die: a transient timer runs
// `steward-agent revert <id>` at RevertAt unless change.confirm, called over
// a fresh login, stops it first. A lock makes confirm and revert exclusive:
// whichever takes it first wins, and the other sees the result.

// RevertPlan is what a change that can cut access replaces, and how to put
// it back.
type RevertPlan struct {
	// Timeout is how long the host waits for the confirmation;
	// api.DefaultConfirmTimeout when zero.
	Timeout time.Duration
	// Detail says what the change does, for the operator's diagnostic.
	Detail string
	// Files are put back first, in order.
	Files []SavedFile
	// Then are run next, in order (argv, no shell), to make the files
	// live again (reload sshd, load a ruleset). A failure is recorded and
	// the rest still run.
	Then [][]string
}

// SavedFile is a file as it was before a change: content, mode and owner,
// or its absence.
type SavedFile struct {
	Path    string      `json:"path"`
	Absent  bool        `json:"absent,omitempty"`
	Content []byte      `json:"content,omitempty"`
	Mode    fs.FileMode `json:"mode,omitempty"`
	UID     int         `json:"uid"`
	GID     int         `json:"gid"`
}

// SaveFile reads path as it is now. Only regular files (or none) can be
// saved: a link could make the revert write somewhere else.
func SaveFile(path string) (SavedFile, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return SavedFile{Path: path, Absent: true}, nil
	}
	if err != nil {
		return SavedFile{}, err
	}
	if !fi.Mode().IsRegular() {
		return SavedFile{}, fmt.Errorf("%s is not a regular file (%s); refusing to manage it", path, fi.Mode().Type())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return SavedFile{}, err
	}
	sf := SavedFile{Path: path, Content: b, Mode: fi.Mode().Perm()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		sf.UID, sf.GID = int(st.Uid), int(st.Gid)
	}
	return sf, nil
}

// restore puts f back as it was.
func (f SavedFile) restore() error {
	if f.Absent {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(f.Path))
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(f.Path, f.Content, f.Mode); err != nil {
		return err
	}
	if err := os.Lchown(f.Path, f.UID, f.GID); err != nil && !errors.Is(err, syscall.EPERM) {
		return err
	}
	return nil
}

// Guarded is a Controller whose changes can cut access. The lifecycle asks
// it, before anything is written, what applying spec would replace; it
// adds the object's spec file, arms the revert, and only then writes the
// spec and calls Apply.
type Guarded[S any] interface {
	// Guard returns the way back from applying spec, or nil when applying
	// it would change nothing that can cut access.
	Guard(ctx context.Context, spec S) (*RevertPlan, error)
}

// Timers arm and disarm the revert of pending changes (systemd's transient
// timers on a host; tests use a fake).
type Timers interface {
	// Arm runs argv once, after d, as its own unit outside this process.
	Arm(ctx context.Context, unit string, d time.Duration, argv []string) error
	// Disarm stops unit's timer; a timer that is gone is no error.
	Disarm(ctx context.Context, unit string) error
}

// systemdTimers are transient timers made with systemd-run.
type systemdTimers struct{}

func (systemdTimers) Arm(ctx context.Context, unit string, d time.Duration, argv []string) error {
	args := []string{"--unit=" + unit, "--description=Steward: revert an unconfirmed change",
		fmt.Sprintf("--on-active=%dms", d.Milliseconds()), "--timer-property=AccuracySec=100ms", "--collect", "--"}
	out, err := exec.CommandContext(ctx, "systemd-run", append(args, argv...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("arm the revert timer (systemd-run): %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (systemdTimers) Disarm(ctx context.Context, unit string) error {
	out, err := exec.CommandContext(ctx, "systemctl", "stop", unit+".timer").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not loaded") {
		return fmt.Errorf("stop the revert timer: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// revertUnit is the transient unit (and timer) of change id.
func revertUnit(id string) string { return "steward-revert-" + id }

// PendingDir holds the pending changes: <id>.json until confirmed or
// reverted, <id>.reverted.json after a revert, for the provider to read.
func (p Paths) PendingDir() string { return filepath.Join(p.StateDir, "pending") }

type pendingChange struct {
	ID       string       `json:"id"`
	Object   string       `json:"object"`
	Operator api.Operator `json:"operator"`
	Created  time.Time    `json:"created"`
	RevertAt time.Time    `json:"revert_at"`
	Detail   string       `json:"detail"`
	Files    []SavedFile  `json:"files"`
	Then     [][]string   `json:"then"`
}

// RevertResult is what a revert did.
type RevertResult struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	Detail     string    `json:"detail"`
	RevertedAt time.Time `json:"reverted_at"`
	Reason     string    `json:"reason"`
	Errors     []string  `json:"errors,omitempty"`
}

func (p Paths) pendingFile(id string) string {
	return filepath.Join(p.PendingDir(), id+".json")
}

// readPending reads pending change id; fs.ErrNotExist once it is confirmed or reverted.
func readPending(p Paths, id string) (pendingChange, error) {
	var pc pendingChange
	raw, err := os.ReadFile(p.pendingFile(id))
	if err != nil {
		return pc, err
	}
	if err := json.Unmarshal(raw, &pc); err != nil {
		return pc, fmt.Errorf("parse %s: %w", p.pendingFile(id), err)
	}
	return pc, nil
}

func (p Paths) revertedFile(id string) string {
	return filepath.Join(p.PendingDir(), id+".reverted.json")
}

// lockPending holds the lock that makes confirm and revert exclusive.
func lockPending(p Paths) (unlock func(), err error) {
	if err := EnsurePrivateDir(p.PendingDir()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(p.PendingDir(), ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}

// arm writes the way back and arms its timer; nothing is changed yet.
func arm(ctx context.Context, deps Deps, object string, op api.Operator, plan RevertPlan) (*api.PendingChange, error) {
	timeout := plan.Timeout
	if timeout == 0 {
		timeout = api.DefaultConfirmTimeout
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	now := deps.Now()
	pc := pendingChange{ID: hex.EncodeToString(b), Object: object, Operator: op, Created: now.UTC(),
		RevertAt: now.Add(timeout).UTC(), Detail: plan.Detail, Files: plan.Files, Then: plan.Then}
	data, err := json.Marshal(pc)
	if err != nil {
		return nil, err
	}
	if err := EnsurePrivateDir(deps.Paths.PendingDir()); err != nil {
		return nil, err
	}
	file := deps.Paths.pendingFile(pc.ID)
	if err := atomicfile.Write(file, data, 0o600); err != nil {
		return nil, fmt.Errorf("save the way back: %w", err)
	}
	argv := []string{deps.Paths.CurrentLink(), "revert", pc.ID}
	if err := deps.Timers.Arm(ctx, revertUnit(pc.ID), timeout, argv); err != nil {
		_ = os.Remove(file)
		return nil, err
	}
	return &api.PendingChange{ID: pc.ID, RevertAt: pc.RevertAt, Detail: pc.Detail}, nil
}

// Revert puts back what pending change id replaced, once: a second call,
// or one after the change was confirmed, returns what happened then.
func Revert(ctx context.Context, deps Deps, id, reason string) (RevertResult, error) {
	deps = deps.WithDefaults()
	if err := (api.ChangeID{ID: id}).Validate(); err != nil {
		return RevertResult{}, err
	}
	p := deps.Paths
	unlock, err := lockPending(p)
	if err != nil {
		return RevertResult{}, err
	}
	defer unlock()
	pc, err := readPending(p, id)
	if errors.Is(err, fs.ErrNotExist) {
		if res, rerr := readReverted(p, id); rerr == nil {
			return res, nil
		}
		return RevertResult{}, &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no pending change %s (confirmed, or never made)", id)}
	}
	if err != nil {
		return RevertResult{}, err
	}
	res := RevertResult{ID: id, Object: pc.Object, Detail: pc.Detail, RevertedAt: deps.Now().UTC(), Reason: reason}
	for _, f := range pc.Files {
		if err := f.restore(); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("put back %s: %v", f.Path, err))
		}
	}
	for _, argv := range pc.Then {
		if len(argv) == 0 {
			continue
		}
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v: %s", strings.Join(argv, " "), err, LastLines(string(out), 3)))
		}
	}
	data, _ := json.Marshal(res) // plain data
	if err := atomicfile.Write(p.revertedFile(id), data, 0o600); err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("record the revert: %v", err))
	}
	if err := os.Remove(p.pendingFile(id)); err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("remove %s: %v", p.pendingFile(id), err))
	}
	_ = deps.Timers.Disarm(ctx, revertUnit(id)) // when not run by the timer itself
	result := "reverted: " + reason
	if len(res.Errors) > 0 {
		result += "; " + strings.Join(res.Errors, "; ")
	}
	recErr := Record(p, pc.Operator, pc.Object, "revert", "", "", result)
	_ = Emit(p, Event{Kind: "change_reverted", Message: fmt.Sprintf("%s: %s reverted: %s", pc.Object, pc.Detail, reason)})
	deps.Logger.Warn("reverted an unconfirmed change", "object", pc.Object, "detail", pc.Detail, "reason", reason, "errors", res.Errors)
	return res, recErr
}

func readReverted(p Paths, id string) (RevertResult, error) {
	b, err := os.ReadFile(p.revertedFile(id))
	if err != nil {
		return RevertResult{}, err
	}
	var res RevertResult
	return res, json.Unmarshal(b, &res)
}

// Confirm keeps pending change id: its timer is stopped and its way back
// dropped. A change already reverted is an *api.Error with
// api.CodeChangeReverted that says when and why.
func Confirm(ctx context.Context, deps Deps, id string, op api.Operator) error {
	deps = deps.WithDefaults()
	p := deps.Paths
	unlock, err := lockPending(p)
	if err != nil {
		return err
	}
	defer unlock()
	pc, err := readPending(p, id)
	if errors.Is(err, fs.ErrNotExist) {
		if res, rerr := readReverted(p, id); rerr == nil {
			return &api.Error{Code: api.CodeChangeReverted, Message: fmt.Sprintf("%s: the host put back what %s replaced at %s (%s)",
				res.Object, res.Detail, res.RevertedAt.Format(time.RFC3339), res.Reason)}
		}
		return &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no pending change %s", id)}
	}
	if err != nil {
		return err
	}
	if err := deps.Timers.Disarm(ctx, revertUnit(id)); err != nil {
		return err // the timer may still fire: do not claim the change is kept
	}
	if err := os.Remove(p.pendingFile(id)); err != nil {
		return err
	}
	return Record(p, op, pc.Object, "confirm", "", "", "ok: "+pc.Detail)
}

// dropPending discards a pending change that turned out to change nothing.
func dropPending(ctx context.Context, deps Deps, id string) error {
	unlock, err := lockPending(deps.Paths)
	if err != nil {
		return err
	}
	defer unlock()
	if err := deps.Timers.Disarm(ctx, revertUnit(id)); err != nil {
		return err
	}
	return os.Remove(deps.Paths.pendingFile(id))
}

// RevertOverdue reverts the pending changes whose time has passed (their
// timer did not run: the host was down at RevertAt, say) and arms again
// the timers of the others, in case the host restarted and lost them. The
// daemon calls it when it starts.
func RevertOverdue(ctx context.Context, deps Deps) error {
	deps = deps.WithDefaults()
	entries, err := os.ReadDir(deps.Paths.PendingDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasSuffix(id, ".reverted") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		pc, err := readPending(deps.Paths, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // confirmed or reverted meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pending change %s: %w", id, err))
			continue
		}
		if left := pc.RevertAt.Sub(deps.Now()); left > 0 {
			// Arm fails when the timer is still there, which is fine.
			_ = deps.Timers.Arm(ctx, revertUnit(id), left, []string{deps.Paths.CurrentLink(), "revert", id})
			continue
		}
		if _, err := Revert(ctx, deps, id, "not confirmed by "+pc.RevertAt.Format(time.RFC3339)+"; its timer did not run (host down then?)"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
