//go:build !linux

package logs

import (
	"errors"
	"os"
)

// Off Linux there is no inotify: file sources look every PollInterval.
type watcher struct{}

type watchTarget struct {
	wake chan struct{}
	name string
}

var errNoWatch = errors.New("file change notification is Linux only")

func newWatcher() (*watcher, error)                     { return nil, errNoWatch }
func (w *watcher) close()                               {}
func (w *watcher) watchDir(string, *watchTarget) error  { return errNoWatch }
func (w *watcher) armFile(*os.File, *watchTarget) error { return errNoWatch }
func (w *watcher) drop(*watchTarget)                    {}
