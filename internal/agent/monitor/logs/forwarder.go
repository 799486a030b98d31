package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Config configures a Forwarder. Spec, StateDir and Logger are required;
// the rest are tuning knobs whose zero value is the default.
type Config struct {
	Spec api.LogForward
	// StateDir is this forwarder's own directory for its saved positions
	// (e.g. /var/lib/steward/log_forward/<name>), created 0700 if missing;
	// the positions file in it is 0600.
	StateDir string
	Logger   *slog.Logger

	// JournalCommand is the journalctl to run, with any leading
	// arguments; default "journalctl" from PATH. Tests put a stand-in here.
	JournalCommand []string
	// BackoffMin and BackoffMax bound the wait between attempts to reach
	// the receiver (and to restart a failing source): it doubles from
	// BackoffMin (1 s) up to BackoffMax (1 min), with jitter.
	BackoffMin, BackoffMax time.Duration
	// PollInterval is how often a file at its end is looked at when the
	// kernel cannot report its changes (inotify), and while a renamed-away
	// file is being finished (250 ms). With inotify an idle file costs no
	// wake-ups but one every 10 s, for changes inotify cannot see.
	PollInterval time.Duration
	// RotateGrace is how long a renamed-away file must stay quiet before
	// the new file at its path is read (2 s).
	RotateGrace time.Duration
	// Settle is how long lines stay at risk after the receiver's TCP
	// acknowledged them (2 s): when the connection then breaks, they are
	// sent again, because the receiver may have died with them in its
	// socket buffer or memory queue.
	Settle time.Duration
	// PersistInterval is the most often positions are saved while lines
	// flow (1 s); they are always saved on stop and on a broken connection.
	PersistInterval time.Duration
	// ShutdownTimeout bounds the wait, on stop, for the receiver to
	// acknowledge what was written (5 s).
	ShutdownTimeout time.Duration
	// WriteTimeout bounds one write to the receiver (30 s).
	WriteTimeout time.Duration
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BackoffMin, time.Second)
	def(&c.BackoffMax, time.Minute)
	def(&c.PollInterval, 250*time.Millisecond)
	def(&c.RotateGrace, 2*time.Second)
	def(&c.Settle, 2*time.Second)
	def(&c.PersistInterval, time.Second)
	def(&c.ShutdownTimeout, 5*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
	if len(c.JournalCommand) == 0 {
		c.JournalCommand = []string{"journalctl"}
	}
}

// Default message size bounds when the spec gives none.
const (
	defaultStreamMessageBytes = 8192
	defaultUDPMessageBytes    = 2048
)

// Forwarder sends one steward_log_forward's sources to its receiver.
type Forwarder struct {
	cfg       Config
	name      string
	log       *slog.Logger
	sources   []source
	envs      []*sourceEnv
	statePath string

	running atomic.Bool
	// watch tells file sources of changes while Run runs; nil without
	// inotify, and then they poll.
	watch *watcher

	mu          sync.Mutex
	connected   bool
	linesSent   uint64
	lastSent    time.Time
	lastErr     string
	lastErrAt   time.Time
	connErrors  uint64
	src         []sourceState
	dirty       bool // Acknowledged positions not saved yet.
	persistedAt time.Time
}

// sourceState is what the forwarder tracks of one source.
type sourceState struct {
	key     string
	display string
	// acked is what the receiver's TCP acknowledged (what is saved);
	// settled is what it acknowledged at least Settle ago, where a new
	// connection resumes after a broken one.
	acked, settled position
	lines          uint64
	lastSent       time.Time
	err            string
	errAt          time.Time
	// unacked counts lines written and not acknowledged; pendingSince is
	// when the oldest line not yet acknowledged was logged or read.
	unacked      int
	pendingSince time.Time
}

// New builds the forwarder of spec: it validates the spec, creates the
// state directory and loads the saved positions. Nothing is read or sent
// before Run.
func New(cfg Config) (*Forwarder, error) {
	if err := cfg.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("log forward %q: %w", cfg.Spec.Name, err)
	}
	if cfg.StateDir == "" || cfg.Logger == nil {
		return nil, fmt.Errorf("log forward %q: a state directory and a logger are required", cfg.Spec.Name)
	}
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("log forward %q: create state directory: %w", cfg.Spec.Name, err)
	}
	f := &Forwarder{
		cfg:       cfg,
		name:      cfg.Spec.Name,
		log:       cfg.Logger.With("log_forward", cfg.Spec.Name),
		statePath: filepath.Join(cfg.StateDir, stateFile),
	}
	saved, err := loadPositions(f.statePath, f.log)
	if err != nil {
		return nil, fmt.Errorf("log forward %q: %w", f.name, err)
	}
	f.buildSources()
	for i := range f.src {
		p := saved[f.src[i].key]
		f.src[i].acked, f.src[i].settled = p, p
	}
	return f, nil
}

func (f *Forwarder) buildSources() {
	spec := f.cfg.Spec
	enc := encoder{maxLen: spec.Target.MaxMessageBytes, octetCounting: spec.Target.Protocol != api.LogProtocolUDP}
	if enc.maxLen == 0 {
		enc.maxLen = defaultStreamMessageBytes
		if !enc.octetCounting {
			enc.maxLen = defaultUDPMessageBytes
		}
	}
	localHost, _ := os.Hostname()
	hostname := []byte(spec.Hostname)
	if len(hostname) == 0 {
		hostname = nil
	}
	fileHost := hostname
	if fileHost == nil {
		fileHost = []byte(localHost)
	}
	startAtEnd := spec.StartAt != api.LogStartBeginning
	add := func(s source, display string) {
		f.sources = append(f.sources, s)
		f.src = append(f.src, sourceState{key: s.key(), display: display})
	}
	if spec.Journal != nil {
		add(&journalSource{
			env: f.env(0, enc), argv: f.cfg.JournalCommand, filter: *spec.Journal,
			hostname: hostname, localHost: []byte(localHost), startAtEnd: startAtEnd,
		}, "journal")
	}
	for _, lf := range spec.Files {
		tag := lf.Tag
		if tag == "" {
			tag = filepath.Base(lf.Path)
		}
		add(&fileSource{
			env:  f.env(len(f.sources), enc),
			path: lf.Path,
			tmpl: message{
				facility: indexOr(api.SyslogFacilities, lf.Facility, 16), // local0
				severity: indexOr(api.SyslogSeverities, lf.Severity, 5),  // notice
				hostname: fileHost, appName: []byte(tag),
			},
			startAtEnd: startAtEnd,
			grace:      f.cfg.RotateGrace,
		}, lf.Path)
	}
}

func indexOr(names []string, name string, def int) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return def
}

// sourceEnv is what a source gets from its forwarder.
type sourceEnv struct {
	idx  int
	enc  encoder
	poll time.Duration
	log  *slog.Logger
	f    *Forwarder
}

func (f *Forwarder) env(idx int, enc encoder) *sourceEnv {
	e := &sourceEnv{idx: idx, enc: enc, poll: f.cfg.PollInterval, log: f.log, f: f}
	f.envs = append(f.envs, e)
	return e
}

// report records a source's failure, or its recovery with nil.
func (e *sourceEnv) report(err error) {
	if err != nil && errors.Is(err, errStopped) {
		return
	}
	f := e.f
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &f.src[e.idx]
	if err == nil {
		s.err = ""
		return
	}
	if s.err != err.Error() {
		e.log.Warn("log source failed; retrying", "source", s.display, "error", err)
	}
	s.err, s.errAt = err.Error(), time.Now()
}

func (e *sourceEnv) retry() *backoff {
	return &backoff{min: e.f.cfg.BackoffMin, max: e.f.cfg.BackoffMax}
}

// backoff doubles a wait from min to max, with ±20 % jitter so that many
// hosts do not retry in step.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
}

func (b *backoff) reset() { b.cur = 0 }

// Run forwards until ctx is cancelled, then saves the positions the
// receiver acknowledged and returns nil. A receiver that cannot be reached
// and sources that fail are retried with backoff, never returned as
// errors. Run may be called again after it returned; it resumes from the
// saved positions.
func (f *Forwarder) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return fmt.Errorf("log forward %q: already running", f.name)
	}
	defer f.running.Store(false)
	w, err := newWatcher()
	if err != nil {
		f.log.Debug("no file change notification; log files are polled", "error", err)
	} else {
		f.watch = w
		defer func() { w.close(); f.watch = nil }()
	}
	f.resolveStarts(ctx)
	bo := &backoff{min: f.cfg.BackoffMin, max: f.cfg.BackoffMax}
	for ctx.Err() == nil {
		f.session(ctx, bo)
		// The connection broke (or ctx is done). A receiver that accepts
		// and closes at once must not make a loop of reconnects and
		// journalctl restarts: the backoff grows unless lines got through.
		sleep(ctx, bo.next())
	}
	return nil
}

// resolveStarts gives every source without a saved position its start
// point and saves it before anything is sent, so that what is logged from
// now on is forwarded even if the receiver is down until after a restart.
func (f *Forwarder) resolveStarts(ctx context.Context) {
	changed := false
	for i, s := range f.sources {
		f.mu.Lock()
		known := f.src[i].acked.known
		f.mu.Unlock()
		if known {
			continue
		}
		p, err := s.start(ctx)
		if err != nil {
			f.envs[i].report(err) // The source resolves it itself once it can.
			continue
		}
		f.mu.Lock()
		f.src[i].acked, f.src[i].settled = p, p
		f.mu.Unlock()
		changed = true
	}
	if changed {
		f.persist(true)
	}
}

// persist saves the acknowledged positions when they changed and the last
// save is PersistInterval old (or always, with force).
func (f *Forwarder) persist(force bool) {
	f.mu.Lock()
	if !force && (!f.dirty || time.Since(f.persistedAt) < f.cfg.PersistInterval) {
		f.mu.Unlock()
		return
	}
	positions := make(map[string]position, len(f.src))
	for _, s := range f.src {
		if s.acked.known {
			positions[s.key] = s.acked
		}
	}
	f.dirty = false
	f.persistedAt = time.Now()
	f.mu.Unlock()
	if err := savePositions(f.statePath, positions); err != nil {
		f.log.Warn("cannot save log positions; they are kept in memory and saved again", "error", err)
		f.mu.Lock()
		f.dirty = true
		f.lastErr, f.lastErrAt = err.Error(), time.Now()
		f.mu.Unlock()
	}
}

// Status reports the forwarder for log_forward.status and `steward-agent
// logs status`. It may be called at any time, from any goroutine.
func (f *Forwarder) Status() api.LogForwardObserved {
	now := time.Now()
	f.mu.Lock()
	obs := api.LogForwardObserved{
		Connected: f.connected, LinesSent: f.linesSent, LastSentAt: f.lastSent,
		LastError: f.lastErr, LastErrorAt: f.lastErrAt,
		Sources: make([]api.LogSourceStatus, len(f.src)),
	}
	for i, s := range f.src {
		st := api.LogSourceStatus{
			Source: s.display, Cursor: s.acked.Cursor, Inode: s.acked.Inode, Offset: s.acked.Offset,
			LinesSent: s.lines, LastSentAt: s.lastSent, LastError: s.err, LastErrorAt: s.errAt,
		}
		if !s.pendingSince.IsZero() {
			st.LagSeconds = max(now.Sub(s.pendingSince).Seconds(), 0)
		}
		obs.Sources[i] = st
	}
	f.mu.Unlock()
	for i := range obs.Sources {
		if fs, ok := f.sources[i].(*fileSource); ok {
			obs.Sources[i].BacklogBytes = fs.backlog(obs.Sources[i].Inode, obs.Sources[i].Offset)
		}
	}
	return obs
}

// backlog is how much of the file at path lies past the acknowledged
// offset (all of it when path is another file by now).
func (s *fileSource) backlog(ino uint64, off int64) int64 {
	fi, err := os.Lstat(s.path)
	if err != nil {
		return 0
	}
	if _, cur, ok := fileID(fi); ok && cur == ino {
		return max(fi.Size()-off, 0)
	}
	return fi.Size()
}
