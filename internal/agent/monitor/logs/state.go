package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// stateFile is the file in the state directory holding every source's
// acknowledged position.
const stateFile = "positions.json"

type savedState struct {
	Version int                 `json:"version"`
	Sources map[string]position `json:"sources"`
}

// loadPositions reads the saved positions. A missing file is a first
// start. A file that cannot be decoded is moved aside (kept for a look)
// and the forwarder starts over as start_at says, with a warning: refusing
// to start would stop forwarding for good.
func loadPositions(path string, log *slog.Logger) (map[string]position, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]position{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log positions: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil || s.Version != 1 {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("move aside unreadable log positions %s: %w", path, rerr)
		}
		log.Warn("log positions unreadable; moved aside, sources start over as start_at says",
			"path", path, "moved_to", aside, "error", err, "version", s.Version)
		return map[string]position{}, nil
	}
	for k, p := range s.Sources {
		p.known = true
		s.Sources[k] = p
	}
	return s.Sources, nil
}

// savePositions replaces the saved positions atomically, readable by root
// only (a journald cursor names the host's boot and machine).
func savePositions(path string, positions map[string]position) error {
	b, err := json.Marshal(savedState{Version: 1, Sources: positions})
	if err != nil {
		return fmt.Errorf("encode log positions: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save log positions: %w", err)
	}
	return nil
}
