package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
)

// configSettle is how long the watcher collects a burst of changes (an
// atomic write is a create, a write and a rename) before it tells the
// components once. It is the floor of the time from a write under
// /etc/steward to a component seeing it.
const configSettle = 50 * time.Millisecond

// configWatcher is the daemon component that turns changes under the
// configuration directory into a Runtime.Changed value for every component.
// It uses inotify, so a change made by rpc or by hand reaches the daemon at
// once and nothing polls the directory.
type configWatcher struct {
	dir    string
	notify func()
}

var _ core.Component = (*configWatcher)(nil)

func (w *configWatcher) Name() string { return "config_watcher" }

// Describe exports nothing: the watcher's health is its component metrics.
func (w *configWatcher) Describe(chan<- *prometheus.Desc) {}

// Collect exports nothing, see Describe.
func (w *configWatcher) Collect(chan<- prometheus.Metric) {}

// Run watches dir and every directory below it until ctx ends.
func (w *configWatcher) Run(ctx context.Context, rt *core.Runtime) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	defer func() { _ = fw.Close() }()
	if err := watchTree(fw, w.dir); err != nil {
		return err
	}
	// Whatever changed while nothing watched (before a restart) is covered
	// by one notification now.
	w.notify()
	rt.Report(nil)

	var settle *time.Timer
	var settled <-chan time.Time
	for {
		changed := false
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return fmt.Errorf("watch %s: the event stream closed", w.dir)
			}
			if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("watch %s: the directory was removed", w.dir)
			}
			// A new directory (a new kind's first object) is watched too.
			if ev.Has(fsnotify.Create) {
				if err := watchTree(fw, ev.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					rt.Report(err)
				}
			}
			changed = true
		case err, ok := <-fw.Errors:
			if !ok {
				return fmt.Errorf("watch %s: the error stream closed", w.dir)
			}
			// Lost events (a queue overflow) may have been changes.
			rt.Report(fmt.Errorf("watch %s: %w", w.dir, err))
			changed = true
		case <-settled:
			settled = nil
			w.notify()
		}
		if changed && settled == nil {
			if settle == nil {
				settle = time.NewTimer(configSettle)
			} else {
				settle.Reset(configSettle)
			}
			settled = settle.C
		}
	}
}

// watchTree adds root and the directories below it (symbolic links are not
// followed) to fw. A root that is a file is not an error: there is nothing to add.
func watchTree(fw *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return fmt.Errorf("watch %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if err := fw.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}
