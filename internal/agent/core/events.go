package core

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Event is something the monitoring side must turn into an alert, such as a
// backup whose verification failed. Events are appended, one JSON object a
// line, to <state>/events.jsonl.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // e.g. "backup_verification_failed"
	Schedule string    `json:"schedule,omitempty"`
	Snapshot string    `json:"snapshot,omitempty"`
	Message  string    `json:"message"`
}

// Emit appends e to the events file.
func Emit(p Paths, e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.StateDir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p.Events(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", p.Events(), err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("append to %s: %w", p.Events(), err)
	}
	return f.Close()
}
