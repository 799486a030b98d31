package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// StateFile is the engine's state under Config.StateDir.
const StateFile = "rule-state.json"

const stateVersion = 1

// stateFile is what StateFile holds: every alert that is not inactive, the
// history, what waits to be handed out, and the active silences and mute.
// It is small (bounded by the rules, MaxAlertsPerRule and HistoryLimit)
// and written whole, atomically, so a power cut leaves the previous
// version or the new one.
type stateFile struct {
	Version   int                    `json:"version"`
	SavedAt   time.Time              `json:"saved_at"`
	Selectors map[string]string      `json:"selectors"` // rule name → selector, to see a rule changed while the agent was down
	Entries   []*entry               `json:"entries"`
	History   []api.AlertTransition  `json:"history"`
	Outbox    []outgoing             `json:"outbox,omitempty"`
	Silences  map[string]silenceMark `json:"silences,omitempty"`
	Mute      muteState              `json:"mute,omitzero"`
}

func (e *Engine) statePath() string { return filepath.Join(e.cfg.StateDir, StateFile) }

// load reads the state file. A file that does not decode, or decodes into
// something the engine never writes, is moved aside as
// rule-state.json.damaged-<time> and reported, and the engine starts clean:
// alerts then start from inactive, which at worst repeats a notification.
func (e *Engine) load() error {
	if err := os.MkdirAll(e.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create alert state directory %s: %w", e.cfg.StateDir, err)
	}
	if err := os.Chmod(e.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("chmod alert state directory %s: %w", e.cfg.StateDir, err)
	}
	path := e.statePath()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		var st stateFile
		if err = decodeState(b, &st); err == nil {
			e.restore(st)
			return nil
		}
	}
	aside := path + ".damaged-" + e.cfg.Clock().UTC().Format("20060102T150405Z")
	e.problem = fmt.Sprintf("alert state %s could not be read (%v); alerts start from inactive", path, err)
	if rerr := os.Rename(path, aside); rerr != nil {
		e.problem += fmt.Sprintf("; moving it aside failed: %v", rerr)
	} else {
		e.problem += "; the damaged file is " + aside
	}
	e.log.Error("alert state damaged", "problem", e.problem)
	return nil
}

// decodeState decodes and checks a state file.
func decodeState(b []byte, st *stateFile) error {
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	}
	for i, ent := range st.Entries {
		if ent == nil || ent.Rule == "" || ent.Fingerprint == "" ||
			!slices.Contains([]string{api.AlertPending, api.AlertFiring, api.AlertResolved}, ent.State) {
			return fmt.Errorf("entry %d: not an alert the engine writes", i)
		}
	}
	return nil
}

// restore installs a decoded state. Every entry's last evaluation is left
// unknown, so the downtime does not count towards its timers.
func (e *Engine) restore(st stateFile) {
	for name, sel := range st.Selectors {
		e.states[name] = &ruleState{selector: sel, entries: map[uint64]*entry{}}
	}
	for _, ent := range st.Entries {
		rs := e.states[ent.Rule]
		if rs == nil {
			rs = &ruleState{entries: map[uint64]*entry{}}
			e.states[ent.Rule] = rs
		}
		if ent.RuleLevel {
			rs.level = ent
			continue
		}
		ent.Series = sortedLabels(ent.Series)
		_, ent.key = rs.lookup(hashLabels(ent.Series), ent.Series)
		rs.entries[ent.key] = ent
	}
	e.history = st.History
	if over := len(e.history) - e.cfg.HistoryLimit; over > 0 {
		e.history = slices.Delete(e.history, 0, over)
	}
	for _, t := range e.history {
		if rs := e.states[t.Rule]; rs != nil {
			rs.last = &t
		}
	}
	e.outbox = st.Outbox
	if st.Silences != nil {
		e.silenceMarks = st.Silences
	}
	e.mute = st.Mute
	e.lastSave = st.SavedAt
}

// saveLocked writes the state file. A failure (a full disk) is returned
// and the state stays dirty, so the next evaluation tries again; the
// engine goes on in memory.
func (e *Engine) saveLocked(now time.Time) error {
	if e.cfg.StateDir == "" {
		e.dirty, e.timersDirty = false, false
		return nil
	}
	st := stateFile{Version: stateVersion, SavedAt: now, Selectors: map[string]string{},
		History: e.history, Outbox: e.outbox, Silences: e.silenceMarks, Mute: e.mute}
	for name, rs := range e.states {
		st.Selectors[name] = rs.selector
		st.Entries = append(st.Entries, rs.all()...)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode alert state: %w", err)
	}
	if err := atomicfile.Write(e.statePath(), b, 0o600); err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	e.dirty, e.timersDirty, e.lastSave = false, false, now
	return nil
}
