package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Managed objects (DESIGN.md §3): every kind's configure, remove and status
// are written once, here. A kind brings a Controller; the lifecycle owns the
// spec file /etc/steward/<dir>/<name>.json (atomic, 0600, in a 0700
// directory), the name check, write-if-changed, the audit entry for every
// change and host_id in every status.

// Controller makes one kind of managed object so on the host. Its methods
// may be called more than once for the same spec, so they must be
// idempotent.
type Controller[S api.Spec, O any] interface {
	// Check validates spec against the host before anything is written
	// (a path that must exist, a command that must be there). An
	// *api.Error keeps its code for the provider.
	Check(ctx context.Context, spec S) error
	// Apply makes the host match spec; prev is the spec the host had, nil
	// for a new object. It runs on every configure, also when the spec file
	// is unchanged, so that it repairs drift on the host. Applied.Changed
	// says whether it changed the host; Applied.Pending is a change that
	// reverts itself unless confirmed (kinds that can cut access).
	Apply(ctx context.Context, spec S, prev *S) (Applied, error)
	// Observe reads the object's live state.
	Observe(ctx context.Context, spec S) (O, error)
	// Remove undoes Apply; spec is the spec the host had. It never deletes
	// data the object produced (snapshots, history) unless the spec says so.
	Remove(ctx context.Context, spec S) error
}

// Applied is what Controller.Apply did.
type Applied struct {
	Changed bool
	Pending *api.PendingChange
}

// RegisterKind adds the lifecycle methods of kind k to methods; newController
// builds the kind's controller for one request.
func RegisterKind[S api.Spec, O any](methods map[string]Handler, k api.Kind[S, O], newController func(Deps) Controller[S, O]) {
	l := lifecycle[S, O]{kind: k, controller: newController}
	methods[k.Configure().Name] = l.configure
	methods[k.Remove().Name] = l.remove
	methods[k.Status().Name] = l.status
}

type lifecycle[S api.Spec, O any] struct {
	kind       api.Kind[S, O]
	controller func(Deps) Controller[S, O]
}

// readSpec reads an object's spec file: (nil, nil, nil) when it does not
// exist; raw is returned whenever the file could be read, also when it does
// not parse, so its digest still shows an edit.
func (l lifecycle[S, O]) readSpec(p Paths, name string) (spec *S, raw []byte, err error) {
	file := p.ObjectFile(l.kind.Dir, name)
	raw, err = os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", file, err)
	}
	spec = new(S)
	if err := json.Unmarshal(raw, spec); err != nil {
		return nil, raw, fmt.Errorf("parse %s: %w", file, err)
	}
	return spec, raw, nil
}

func (l lifecycle[S, O]) configure(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var spec S
	if err := DecodeParams(req, &spec); err != nil { // runs spec.Validate
		return nil, err
	}
	deps = deps.WithDefaults()
	p, name := deps.Paths, spec.ObjectName()
	if err := api.ValidateObjectName(name); err != nil {
		return nil, BadRequest("%s: %v", l.kind.Name, err)
	}
	ctl := l.controller(deps)
	if err := ctl.Check(ctx, spec); err != nil {
		return nil, err
	}
	prev, raw, err := l.readSpec(p, name)
	if err != nil && raw == nil {
		return nil, err // unreadable, not merely unparsable: do not overwrite blindly
	}
	rendered := api.RenderSpec(spec)
	dir := filepath.Join(p.ConfigDir, l.kind.Dir)
	if err := EnsurePrivateDir(dir); err != nil {
		return nil, err
	}
	file := p.ObjectFile(l.kind.Dir, name)
	object := l.kind.Name + "/" + name
	pending, err := l.armRevert(ctx, deps, ctl, spec, file, object, req.Operator)
	if err != nil {
		return nil, err
	}
	// undo puts the host back at once when the change fails half way.
	undo := func(cause error) error {
		if pending != nil {
			if _, rerr := Revert(ctx, deps, pending.ID, "the apply failed: "+cause.Error()); rerr != nil {
				return errors.Join(cause, fmt.Errorf("and the revert: %w", rerr))
			}
		}
		return cause
	}
	changed, before, err := WriteIfChanged(file, rendered, 0o600)
	if err != nil {
		return nil, undo(fmt.Errorf("write %s: %w", file, err))
	}
	applied, err := ctl.Apply(ctx, spec, prev)
	if err != nil {
		_ = Record(p, req.Operator, object, "configure", before, Digest(rendered), err.Error())
		return nil, undo(err)
	}
	if pending != nil && !changed && !applied.Changed {
		if err := dropPending(ctx, deps, pending.ID); err != nil {
			return nil, err
		}
		pending = nil
	}
	if pending == nil {
		pending = applied.Pending
	}
	if changed || applied.Changed {
		result := "ok"
		if pending != nil {
			result = "pending confirmation until " + pending.RevertAt.Format(time.RFC3339)
		}
		if err := Record(p, req.Operator, object, "configure", before, Digest(rendered), result); err != nil {
			return nil, undo(err)
		}
	}
	st, err := l.statusOf(ctx, deps, ctl, name)
	st.Pending = pending
	return st, err
}

// armRevert arms the way back before a guarded kind changes anything: what
// its controller says it replaces, and the object's spec file.
func (l lifecycle[S, O]) armRevert(ctx context.Context, deps Deps, ctl Controller[S, O], spec S, file, object string, op api.Operator) (*api.PendingChange, error) {
	g, ok := ctl.(Guarded[S])
	if !ok {
		return nil, nil
	}
	plan, err := g.Guard(ctx, spec)
	if err != nil || plan == nil {
		return nil, err
	}
	saved, err := SaveFile(file)
	if err != nil {
		return nil, err
	}
	plan.Files = append([]SavedFile{saved}, plan.Files...)
	return arm(ctx, deps, object, op, *plan)
}

func (l lifecycle[S, O]) remove(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var n api.ObjectName
	if err := DecodeParams(req, &n); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	p := deps.Paths
	spec, raw, err := l.readSpec(p, n.Name)
	switch {
	case raw == nil && err == nil:
		return api.Removed{}, nil
	case spec == nil:
		return nil, err // unreadable or unparsable: removing it blind could leave the host half done
	}
	if err := l.controller(deps).Remove(ctx, *spec); err != nil {
		return nil, err
	}
	file := p.ObjectFile(l.kind.Dir, n.Name)
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove %s: %w", file, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(file)); err != nil {
		return nil, err
	}
	return api.Removed{Existed: true}, Record(p, req.Operator, l.kind.Name+"/"+n.Name, "remove", Digest(raw), "")
}

func (l lifecycle[S, O]) status(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var n api.ObjectName
	if err := DecodeParams(req, &n); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	return l.statusOf(ctx, deps, l.controller(deps), n.Name)
}

// statusOf reports an object as the host has it. A spec file that does not
// parse is present, without a spec: the provider plans to write it again.
func (l lifecycle[S, O]) statusOf(ctx context.Context, deps Deps, ctl Controller[S, O], name string) (api.ObjectStatus[S, O], error) {
	hostID, err := ReadHostID(deps.Paths)
	if err != nil {
		return api.ObjectStatus[S, O]{}, err
	}
	st := api.ObjectStatus[S, O]{HostID: hostID}
	spec, raw, err := l.readSpec(deps.Paths, name)
	if raw == nil {
		return st, err
	}
	sum := sha256.Sum256(raw)
	st.Present, st.SpecSHA256 = true, hex.EncodeToString(sum[:])
	if spec == nil {
		deps.Logger.Warn("unreadable spec file", "kind", l.kind.Name, "name", name, "error", err)
		return st, nil
	}
	st.Spec = spec
	st.Observed, err = ctl.Observe(ctx, *spec)
	return st, err
}

// EnsurePrivateDir makes dir (and its parents) and gives dir mode 0700.
func EnsurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}
