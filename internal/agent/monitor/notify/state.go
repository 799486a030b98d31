package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// maxFiring bounds the alerts one channel remembers as firing; past it the
// one notified longest ago is forgotten (it is then neither repeated nor
// re-sent).
const maxFiring = 10000

// channelState is what a channel keeps beside its queue, in state.json:
// its counters and last results, and the alerts it was told fire.
type channelState struct {
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Rejected  int64 `json:"rejected"`
	Dropped   int64 `json:"dropped"`
	Damaged   int64 `json:"damaged"`

	LastAttemptAt      time.Time `json:"last_attempt_at,omitzero"`
	LastDeliveryAt     time.Time `json:"last_delivery_at,omitzero"`
	LastError          string    `json:"last_error,omitempty"`
	LastErrorAt        time.Time `json:"last_error_at,omitzero"`
	LastHeartbeatAt    time.Time `json:"last_heartbeat_at,omitzero"`
	LastHeartbeatError string    `json:"last_heartbeat_error,omitempty"`

	// Host and HostID are those of the last notification, for repeats and
	// re-sends.
	Host   string `json:"host,omitempty"`
	HostID string `json:"host_id,omitempty"`
	// Firing are the alerts last notified as firing, by fingerprint.
	Firing map[string]*firingAlert `json:"firing,omitempty"`
}

// firingAlert is an alert the channel was told fires.
type firingAlert struct {
	Alert      api.Alert `json:"alert"`
	NotifiedAt time.Time `json:"notified_at"` // When a notification carrying it was last queued.
}

// loadState reads a channel's state.json. A file that does not parse is
// moved aside and the channel starts with no state; the returned message
// says so.
func loadState(file, damagedDir, label string, now time.Time) (channelState, string, error) {
	var st channelState
	b, err := readBounded(file, 64<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return st, "", nil
	}
	if err != nil {
		return st, "", err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		moved, merr := moveAside(damagedDir, label+"-state.json", file, now)
		if merr != nil {
			return channelState{}, "", merr
		}
		return channelState{}, fmt.Sprintf("channel state %s does not parse (%v): moved to %s; counters and firing alerts start afresh", file, err, moved), nil
	}
	return st, "", nil
}

func (st *channelState) save(file string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode channel state: %w", err)
	}
	if err := atomicfile.Write(file, b, 0o600); err != nil {
		return fmt.Errorf("save channel state: %w", err)
	}
	return nil
}

// track updates the firing alerts from a notification queued at now and
// reports whether the set of fingerprints changed (which is saved at once:
// a re-send or repeat must not forget an alert in a crash).
func (st *channelState) track(n api.Notification, now time.Time) bool {
	if st.Firing == nil {
		st.Firing = map[string]*firingAlert{}
	}
	st.Host, st.HostID = n.Host, n.HostID
	changed := false
	for _, a := range n.Alerts {
		fp := fingerprint(a)
		switch a.State {
		case api.AlertFiring:
			if _, ok := st.Firing[fp]; !ok {
				changed = true
			}
			st.Firing[fp] = &firingAlert{Alert: a, NotifiedAt: now}
		case api.AlertResolved:
			if _, ok := st.Firing[fp]; ok {
				delete(st.Firing, fp)
				changed = true
			}
		}
	}
	for len(st.Firing) > maxFiring {
		oldest := slices.MinFunc(slices.Collect(maps.Keys(st.Firing)), func(a, b string) int {
			return st.Firing[a].NotifiedAt.Compare(st.Firing[b].NotifiedAt)
		})
		delete(st.Firing, oldest)
	}
	return changed
}

// firingAlerts returns the firing alerts sorted by rule and fingerprint, so
// what is sent does not depend on map order.
func (st *channelState) firingAlerts() []api.Alert {
	out := make([]api.Alert, 0, len(st.Firing))
	for _, fp := range slices.Sorted(maps.Keys(st.Firing)) {
		out = append(out, st.Firing[fp].Alert)
	}
	slices.SortStableFunc(out, func(a, b api.Alert) int {
		if a.Rule < b.Rule {
			return -1
		}
		if a.Rule > b.Rule {
			return 1
		}
		return 0
	})
	return out
}

// fingerprint is the alert's, or computed when the rule engine left it out.
func fingerprint(a api.Alert) string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	return api.AlertFingerprint(a.Rule, a.Labels)
}
