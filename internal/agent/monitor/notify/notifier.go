package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Config configures a Notifier. Only StateDir is required.
type Config struct {
	// StateDir holds the queues, channel state and delivery history
	// (created 0700), e.g. /var/lib/steward/notify.
	StateDir string
	Logger   *slog.Logger // Default: discard.
	Clock    Clock        // Default: the wall clock.
	// HTTPClient sends webhook, Alertmanager, Slack and heartbeat requests.
	// Default: one that follows no redirects and has no timeout of its own.
	HTTPClient *http.Client
	// Host and HostID name this host in test notifications, heartbeats and
	// e-mail greetings.
	Host, HostID string
	// ExternalURL is the host's status page, sent as the webhook payload's
	// externalURL and as every alert's generatorURL.
	ExternalURL string
	// HistoryMax bounds the delivery history (all channels). Default
	// DefaultHistoryMax.
	HistoryMax int
	// Alive, when set, is asked before each heartbeat: an error (the rule
	// engine has not evaluated lately, say) withholds the heartbeat, so
	// the dead-man's switch fires for a host that runs but cannot alert.
	Alive func() error
	// LoadChannels, when set, is how Run reads the channel specs: once when
	// it starts and whenever the configuration changes (core.Runtime's
	// Changed). Without it the daemon calls SetChannels.
	LoadChannels func() ([]api.NotificationChannel, error)
	// Rand returns a number in [0, 1) for retry jitter. Default math/rand/v2.
	Rand func() float64
}

// Notifier is the daemon component that delivers notifications to the
// host's channels: one delivery loop per channel over its persisted queue.
type Notifier struct {
	cfg   Config
	log   *slog.Logger
	clock Clock
	http  *http.Client
	rand  func() float64
	hist  *history

	mu       sync.Mutex
	channels map[string]*channel
	runCtx   context.Context // set while Run runs
	// removing names the channels Remove is deleting: their spec file is
	// still there until Remove returns, and a reload of the specs in the
	// meantime (another object changed) must not open them again, which
	// would write into the directory being deleted.
	removing map[string]bool

	attempting atomic.Int32 // attempts under way, so tests move a fake clock only between them

	queueDesc, totalDesc, lastDeliveryDesc, lastHeartbeatDesc *prometheus.Desc
}

var _ core.Component = (*Notifier)(nil)

// channel is one channel's spec, queue, state and delivery loop state.
type channel struct {
	name string
	dir  string

	mu    sync.Mutex
	spec  api.NotificationChannel // validated, with its defaults
	set   settings
	send  sender
	q     *queue
	st    channelState
	dirty bool // st has changes not yet saved

	failures         int       // consecutive failed attempts at the head
	nextAttempt      time.Time // when the head may be tried again
	inflight         *entry    // the head while an attempt runs
	nextResend       time.Time // Alertmanager channels: next re-send of the firing alerts
	nextHeartbeat    time.Time
	resendFailing    bool
	heartbeatFailing bool

	wake chan struct{}

	// Guarded by Notifier.mu: the running delivery loop.
	cancel context.CancelFunc
	done   chan struct{}
}

// settings are a channel's durations, parsed.
type settings struct {
	timeout, retryMin, retryMax, maxAge, repeat, resend, heartbeat time.Duration
}

func parseSettings(spec api.NotificationChannel) settings {
	// The spec is validated, and has its defaults: every duration parses.
	d := func(s string) time.Duration {
		v, _ := api.ParseDuration(s)
		return v
	}
	set := settings{timeout: d(spec.Timeout), retryMin: d(spec.RetryMin), retryMax: d(spec.RetryMax),
		maxAge: d(spec.QueueMaxAge)}
	if spec.RepeatInterval != "" {
		set.repeat = d(spec.RepeatInterval)
	}
	if spec.Alertmanager != nil {
		set.resend = d(spec.Alertmanager.ResendInterval)
	}
	if spec.Heartbeat != nil {
		set.heartbeat = d(spec.Heartbeat.Interval)
	}
	return set
}

// New opens the notifier's state under cfg.StateDir. Channels come with
// SetChannels (or cfg.LoadChannels); deliveries start with Run.
func New(cfg Config) (*Notifier, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("notifier: no state directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.HistoryMax <= 0 {
		cfg.HistoryMax = DefaultHistoryMax
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, http: cfg.HTTPClient, rand: cfg.Rand,
		channels: map[string]*channel{}, removing: map[string]bool{},
		queueDesc: prometheus.NewDesc("steward_notification_queue_length",
			"Notifications waiting in the channel's delivery queue.", []string{"channel"}, nil),
		totalDesc: prometheus.NewDesc("steward_notifications_total",
			"Notifications by outcome: delivered, rejected by the receiver, dropped past the queue's bounds, found damaged; and failed attempts.",
			[]string{"channel", "result"}, nil),
		lastDeliveryDesc: prometheus.NewDesc("steward_notification_last_delivery_timestamp_seconds",
			"When the channel last delivered a notification (0: never).", []string{"channel"}, nil),
		lastHeartbeatDesc: prometheus.NewDesc("steward_notification_last_heartbeat_timestamp_seconds",
			"When the channel's heartbeat last succeeded (0: never).", []string{"channel"}, nil),
	}
	if err := core.EnsurePrivateDir(filepath.Join(cfg.StateDir, "channels")); err != nil {
		return nil, err
	}
	h, damaged, err := loadHistory(filepath.Join(cfg.StateDir, "history.jsonl"), n.damagedDir(), cfg.HistoryMax, n.clock.Now())
	if err != nil {
		return nil, err
	}
	if damaged != "" {
		n.log.Warn("delivery history damaged", "detail", damaged)
	}
	n.hist = h
	return n, nil
}

func (n *Notifier) damagedDir() string { return filepath.Join(n.cfg.StateDir, "damaged") }

// Name implements core.Component.
func (n *Notifier) Name() string { return "notifier" }

// SetChannels makes specs the channels notifications can go to. A new
// channel opens its queue (delivering what an earlier run left in it); a
// changed one applies at once and retries its queue now, in case the
// change is the fix; a channel no longer listed stops delivering but keeps
// its queue on disk until Remove. A spec that does not validate is
// reported in the error and, if its channel exists, leaves it as it was.
func (n *Notifier) SetChannels(specs []api.NotificationChannel) error {
	var errs []error
	want := map[string]api.NotificationChannel{}
	keep := map[string]bool{}
	for _, spec := range specs {
		if err := spec.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("notification channel %q: %w", spec.Name, err))
			keep[spec.Name] = true
			continue
		}
		if _, dup := want[spec.Name]; dup {
			errs = append(errs, fmt.Errorf("notification channel %q: listed twice", spec.Name))
			continue
		}
		want[spec.Name] = spec.WithDefaults()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, c := range n.channels {
		if _, ok := want[name]; !ok && !keep[name] {
			n.stopLane(c)
			delete(n.channels, name)
			n.log.Info("notification channel removed", "channel", name, "queued", c.queueLen())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		spec := want[name]
		if c := n.channels[name]; c != nil {
			c.update(n, spec)
			continue
		}
		if n.removing[name] {
			continue
		}
		c, err := n.openChannel(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n.channels[name] = c
		if n.runCtx != nil {
			n.startLane(c)
		}
	}
	return errors.Join(errs...)
}

// openChannel reads a channel's queue and state from disk.
func (n *Notifier) openChannel(spec api.NotificationChannel) (*channel, error) {
	now := n.clock.Now()
	c := &channel{name: spec.Name, dir: filepath.Join(n.cfg.StateDir, "channels", spec.Name), wake: make(chan struct{}, 1)}
	c.spec, c.set, c.send = spec, parseSettings(spec), n.newSender(spec)
	q, damaged, err := loadQueue(filepath.Join(c.dir, "queue"), n.damagedDir(), "queue-"+spec.Name, now)
	if err != nil {
		return nil, fmt.Errorf("open notification channel %s: %w", spec.Name, err)
	}
	c.q = q
	st, msg, err := loadState(c.stateFile(), n.damagedDir(), spec.Name, now)
	if err != nil {
		return nil, fmt.Errorf("open notification channel %s: %w", spec.Name, err)
	}
	c.st = st
	if msg != "" {
		n.damaged(c, "notification channel state damaged", msg, now)
	}
	for _, d := range damaged {
		n.damaged(c, "queued notification damaged", fmt.Sprintf("queue file %s: %v; moved to %s, its notification is lost", d.file, d.err, d.movedTo), now)
	}
	if len(q.entries) > 0 {
		n.log.Info("notification channel has queued notifications", "channel", spec.Name, "queued", len(q.entries),
			"oldest", q.entries[0].QueuedAt)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n.expire(c, now)
	return c, n.saveState(c)
}

// damaged reports state of c found damaged and moved aside: logged,
// counted, in the status and the history.
func (n *Notifier) damaged(c *channel, what, detail string, now time.Time) {
	n.log.Warn(what, "channel", c.name, "detail", detail)
	c.st.Damaged++
	c.st.LastError, c.st.LastErrorAt = detail, now
	c.dirty = true
	n.record(api.DeliveryRecord{Time: now, Channel: c.name, Type: c.spec.Type, Event: api.DeliveryQueue,
		Result: api.DeliveryDamaged, Error: detail})
}

func (c *channel) stateFile() string { return filepath.Join(c.dir, "state.json") }

func (c *channel) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q.entries)
}

// update applies a changed spec.
func (c *channel) update(n *Notifier, spec api.NotificationChannel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reflect.DeepEqual(c.spec, spec) {
		return
	}
	c.spec, c.set, c.send = spec, parseSettings(spec), n.newSender(spec)
	c.failures, c.nextAttempt, c.nextResend, c.nextHeartbeat = 0, time.Time{}, time.Time{}, time.Time{}
	n.log.Info("notification channel changed", "channel", c.name, "type", spec.Type)
	c.poke()
}

// poke wakes the channel's delivery loop.
func (c *channel) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Remove forgets a channel and deletes its queue and state (its delivery
// history stays). Removing an unknown channel deletes what an earlier run
// left of it.
func (n *Notifier) Remove(name string) error {
	if err := api.ValidateObjectName(name); err != nil {
		return fmt.Errorf("remove notification channel: %w", err)
	}
	n.mu.Lock()
	c := n.channels[name]
	var done chan struct{}
	if c != nil {
		done = n.stopLane(c)
		delete(n.channels, name)
	}
	n.removing[name] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.removing, name)
		n.mu.Unlock()
	}()
	if done != nil {
		<-done
	}
	dir := filepath.Join(n.cfg.StateDir, "channels", name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove notification channel %s: %w", name, err)
	}
	return nil
}

// Enqueue queues a notification for a channel and returns once it is on
// disk: from then on it is delivered (in order, after what was queued
// before) unless it ages past the channel's queue_max_age or is pushed
// out past queue_max_entries. n.Channel is set to channel.
func (n *Notifier) Enqueue(channel string, note api.Notification) error {
	c := n.channel(channel)
	if c == nil {
		return fmt.Errorf("enqueue notification to channel %s: no such channel", channel)
	}
	if len(note.Alerts) == 0 {
		return fmt.Errorf("enqueue notification to channel %s: no alerts in it", channel)
	}
	now := n.clock.Now()
	note.Channel = channel
	if note.Time.IsZero() {
		note.Time = now
	}
	event := api.DeliveryNotification
	if note.IsRepeat {
		event = api.DeliveryRepeat
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := n.enqueue(c, event, note, now); err != nil {
		return fmt.Errorf("enqueue notification to channel %s: %w", channel, err)
	}
	return nil
}

// enqueue queues note; c.mu is held.
func (n *Notifier) enqueue(c *channel, event string, note api.Notification, now time.Time) error {
	n.expire(c, now)
	for len(c.q.entries) >= c.spec.QueueMaxEntries {
		oldest := c.q.head()
		if oldest == c.inflight {
			if len(c.q.entries) < 2 {
				break
			}
			oldest = c.q.entries[1]
		}
		n.drop(c, oldest, now, fmt.Sprintf("the queue holds queue_max_entries (%d)", c.spec.QueueMaxEntries))
	}
	if _, err := c.q.push(event, note, now); err != nil {
		return err
	}
	if c.st.track(note, now) {
		if err := n.saveState(c); err != nil {
			n.log.Error("save notification channel state", "channel", c.name, "error", err)
		}
	} else {
		c.dirty = true
	}
	c.poke()
	return nil
}

// expire drops the notifications older than queue_max_age; c.mu is held.
func (n *Notifier) expire(c *channel, now time.Time) {
	for _, e := range slices.Clone(c.q.entries) {
		if e != c.inflight && now.Sub(e.QueuedAt) > c.set.maxAge {
			n.drop(c, e, now, fmt.Sprintf("older than queue_max_age (%s)", c.spec.QueueMaxAge))
		}
	}
}

// drop removes a notification that will never be sent, counting and
// logging it; c.mu is held.
func (n *Notifier) drop(c *channel, e *entry, now time.Time, why string) {
	if err := c.q.remove(e); err != nil {
		n.log.Error("remove dropped notification", "channel", c.name, "error", err)
	}
	c.st.Dropped++
	c.dirty = true
	n.log.Warn("notification dropped", "channel", c.name, "id", e.ID, "queued_at", e.QueuedAt,
		"alerts", len(e.Notification.Alerts), "reason", why)
	n.record(api.DeliveryRecord{Time: now, Channel: c.name, Type: c.spec.Type, Event: e.Event, Result: api.DeliveryDropped,
		ID: e.ID, Attempt: e.attempts, QueuedAt: e.QueuedAt, Error: "dropped: " + why, Alerts: deliveryAlerts(e.Notification)})
}

// saveState writes c.st; c.mu is held.
func (n *Notifier) saveState(c *channel) error {
	if err := c.st.save(c.stateFile()); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

func (n *Notifier) channel(name string) *channel {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.channels[name]
}

// record adds to the delivery history; a failure to persist is logged.
func (n *Notifier) record(r api.DeliveryRecord) {
	if err := n.hist.add(r); err != nil {
		n.log.Error("record delivery", "channel", r.Channel, "error", err)
	}
}

func deliveryAlerts(note api.Notification) []api.DeliveryAlert {
	out := make([]api.DeliveryAlert, 0, min(len(note.Alerts), maxRecordAlerts))
	for _, a := range note.Alerts[:min(len(note.Alerts), maxRecordAlerts)] {
		out = append(out, api.DeliveryAlert{Rule: a.Rule, State: a.State, Fingerprint: fingerprint(a)})
	}
	return out
}

// Run delivers until ctx ends: one loop per channel, so a channel whose
// receiver fails or hangs never holds up another. An attempt under way
// when ctx ends is abandoned; its notification stays queued and is sent
// by the next run. Run implements core.Component; rt may be nil.
func (n *Notifier) Run(ctx context.Context, rt *core.Runtime) error {
	n.mu.Lock()
	if n.runCtx != nil {
		n.mu.Unlock()
		return errors.New("notifier: already running")
	}
	n.runCtx = ctx
	for _, c := range n.channels {
		n.startLane(c)
	}
	n.mu.Unlock()
	var changed <-chan struct{}
	if rt != nil {
		changed = rt.Changed
	}
	n.reload(rt)
	for {
		select {
		case <-changed:
			n.reload(rt)
			continue
		case <-ctx.Done():
		}
		break
	}
	n.mu.Lock()
	n.runCtx = nil
	var done []chan struct{}
	for _, c := range n.channels {
		done = append(done, n.stopLane(c))
	}
	n.mu.Unlock()
	for _, d := range done {
		<-d
	}
	n.hist.close()
	return nil
}

// reload reads the channels with cfg.LoadChannels, when set.
func (n *Notifier) reload(rt *core.Runtime) {
	if n.cfg.LoadChannels == nil {
		return
	}
	specs, err := n.cfg.LoadChannels()
	if err == nil {
		err = n.SetChannels(specs)
	} else {
		err = fmt.Errorf("read notification channels: %w", err)
	}
	if rt != nil {
		rt.Report(err)
	} else if err != nil {
		n.log.Warn("notification channels", "error", err)
	}
}

// startLane starts c's delivery loop; n.mu is held.
func (n *Notifier) startLane(c *channel) {
	ctx, cancel := context.WithCancel(n.runCtx)
	c.cancel, c.done = cancel, make(chan struct{})
	go n.lane(ctx, c, c.done)
}

// stopLane stops c's delivery loop and returns a channel closed when it
// ended; n.mu is held.
func (n *Notifier) stopLane(c *channel) chan struct{} {
	done := c.done
	if c.cancel == nil {
		done = make(chan struct{})
		close(done)
		return done
	}
	c.cancel()
	c.cancel, c.done = nil, nil
	return done
}

// Status reports every channel's queue and delivery results.
func (n *Notifier) Status() map[string]api.NotificationChannelObserved {
	n.mu.Lock()
	list := slices.Collect(maps.Values(n.channels))
	n.mu.Unlock()
	out := make(map[string]api.NotificationChannelObserved, len(list))
	for _, c := range list {
		out[c.name] = c.observed()
	}
	return out
}

func (c *channel) observed() api.NotificationChannelObserved {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	o := api.NotificationChannelObserved{
		QueueLength: len(c.q.entries), Firing: len(st.Firing),
		LastAttemptAt: st.LastAttemptAt, LastDeliveryAt: st.LastDeliveryAt, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		Delivered: st.Delivered, Failed: st.Failed, Rejected: st.Rejected, Dropped: st.Dropped, Damaged: st.Damaged,
		LastHeartbeatAt: st.LastHeartbeatAt, LastHeartbeatError: st.LastHeartbeatError,
	}
	if h := c.q.head(); h != nil {
		o.OldestQueuedAt = h.QueuedAt
	}
	return o
}

// History returns the delivery records f selects, oldest first.
func (n *Notifier) History(f api.DeliveryFilter) []api.DeliveryRecord { return n.hist.query(f) }

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	ch <- n.queueDesc
	ch <- n.totalDesc
	ch <- n.lastDeliveryDesc
	ch <- n.lastHeartbeatDesc
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	seconds := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	for name, o := range n.Status() {
		ch <- prometheus.MustNewConstMetric(n.queueDesc, prometheus.GaugeValue, float64(o.QueueLength), name)
		for result, v := range map[string]int64{api.DeliveryDelivered: o.Delivered, api.DeliveryFailed: o.Failed,
			api.DeliveryRejected: o.Rejected, api.DeliveryDropped: o.Dropped, api.DeliveryDamaged: o.Damaged} {
			ch <- prometheus.MustNewConstMetric(n.totalDesc, prometheus.CounterValue, float64(v), name, result)
		}
		ch <- prometheus.MustNewConstMetric(n.lastDeliveryDesc, prometheus.GaugeValue, seconds(o.LastDeliveryAt), name)
		ch <- prometheus.MustNewConstMetric(n.lastHeartbeatDesc, prometheus.GaugeValue, seconds(o.LastHeartbeatAt), name)
	}
}
