package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Mute requests: Steward's own changes (an agent install, a rollback)
// restart the daemon, and the rules that opt in (mute_during_changes) must
// not page anyone for it. The change and the rule engine share no code and
// may not even run in the same process, so the change leaves a request
// file under the state directory and the engine takes it when it starts
// and at every evaluation.

// ChangeMuteWindow is how long a mute requested around a restart of the
// daemon lasts: the restart, the first collections and the health check.
const ChangeMuteWindow = 2 * time.Minute

// MuteRequest is one request to mute the opted-in rules.
type MuteRequest struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// maxMuteRequests bounds the files TakeMuteRequests reads, so a directory
// filled by mistake cannot stall an evaluation.
const maxMuteRequests = 100

// MuteRequestDir is where mute requests wait for the rule engine.
func (p Paths) MuteRequestDir() string { return filepath.Join(p.StateDir, "mute-requests") }

// RequestMute asks the rule engine to mute the rules with
// mute_during_changes until until, for reason (logged and shown). It
// returns once the request is on disk.
func RequestMute(p Paths, until time.Time, reason string) error {
	dir := p.MuteRequestDir()
	if err := EnsurePrivateDir(dir); err != nil {
		return fmt.Errorf("request alert mute: %w", err)
	}
	b, err := json.Marshal(MuteRequest{Until: until.UTC(), Reason: reason})
	if err != nil {
		return fmt.Errorf("request alert mute: %w", err)
	}
	file := filepath.Join(dir, strconv.FormatInt(time.Now().UnixNano(), 10)+".json")
	if err := atomicfile.Write(file, b, 0o600); err != nil {
		return fmt.Errorf("request alert mute: write %s: %w", file, err)
	}
	return nil
}

// TakeMuteRequests returns the pending mute requests, oldest first, and
// removes their files. A file that does not parse is removed and reported
// in the error; the others are still returned.
func TakeMuteRequests(p Paths) ([]MuteRequest, error) {
	dir := p.MuteRequestDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mute requests: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var out []MuteRequest
	var errs []error
	for i, name := range names {
		file := filepath.Join(dir, name)
		if i >= len(names)-maxMuteRequests { // the newest: the latest until wins anyway
			var r MuteRequest
			b, err := os.ReadFile(file)
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mute request %s: %w", file, err))
			} else {
				out = append(out, r)
			}
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove mute request %s: %w", file, err))
		}
	}
	return out, errors.Join(errs...)
}
