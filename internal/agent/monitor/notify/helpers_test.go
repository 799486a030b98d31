package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*fakeTimer]bool
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), waiters: map[*fakeTimer]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.waiters[t] = true
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.waiters[t]
	delete(t.c.waiters, t)
	return was
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.waiters {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.waiters, t)
		}
	}
}

// next is the earliest timer's deadline; ok is false with none set.
func (c *fakeClock) next() (at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.waiters {
		if !ok || t.at.Before(at) {
			at, ok = t.at, true
		}
	}
	return at, ok
}

// realDeadline bounds how long a test waits for something to happen; it
// fails the test, it is not a timing assertion.
const realDeadline = 20 * time.Second

// eventually waits (in real time) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(realDeadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// drive moves the fake clock, as an event simulator does, from timer to
// timer (never by more than limit at once), only while no attempt is under
// way and some timer is set: a loop that is busy sets none, so the clock
// never moves under work in progress. It stops when cond holds.
func (h *harness) drive(limit time.Duration, what string, cond func() bool) {
	h.t.Helper()
	drive(h.t, h.n, h.clock, limit, false, what, cond)
}

// driveThroughAttempts moves the clock also while attempts are under way,
// to time them out.
func (h *harness) driveThroughAttempts(limit time.Duration, what string, cond func() bool) {
	h.t.Helper()
	drive(h.t, h.n, h.clock, limit, true, what, cond)
}

// pass lets total pass on the clock, timer by timer: long enough for a
// duplicate or a stray retry to show.
func (h *harness) pass(total time.Duration) {
	h.t.Helper()
	until := h.clock.Now().Add(total)
	h.drive(until.Sub(h.clock.Now()), "time to pass", func() bool { return !h.clock.Now().Before(until) })
}

func drive(t *testing.T, n *Notifier, clock *fakeClock, limit time.Duration, throughAttempts bool, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(realDeadline)
	target := clock.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s (fake clock at %s)", what, clock.Now())
		}
		if at, ok := clock.next(); ok && (throughAttempts || n.attempting.Load() == 0) {
			now := clock.Now()
			if !target.After(now) {
				target = now.Add(limit)
			}
			if target.Before(at) {
				at = target
			}
			clock.Advance(max(at.Sub(now), 0))
			time.Sleep(2 * time.Millisecond) // lets what woke up start its work
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a log destination safe for the notifier's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// harness is a notifier under test with its clock and log.
type harness struct {
	t     *testing.T
	n     *Notifier
	clock *fakeClock
	log   *syncBuffer
	dir   string
	stop  func()
}

func newHarness(t *testing.T, dir string, clock *fakeClock, specs ...api.NotificationChannel) *harness {
	t.Helper()
	return newHarnessWith(t, Config{StateDir: dir}, clock, specs...)
}

// newHarnessWith builds the notifier from cfg, filling in the test's
// clock, log, host and jitter.
func newHarnessWith(t *testing.T, cfg Config, clock *fakeClock, specs ...api.NotificationChannel) *harness {
	t.Helper()
	if clock == nil {
		clock = newFakeClock()
	}
	logs := &syncBuffer{}
	cfg.Clock, cfg.Logger = clock, slogTo(logs)
	if cfg.Host == "" {
		cfg.Host, cfg.HostID = "web1", "0123abcd"
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.SetChannels(specs); err != nil {
		t.Fatalf("SetChannels: %v", err)
	}
	return &harness{t: t, n: n, clock: clock, log: logs, dir: cfg.StateDir}
}

// start runs the notifier until the test ends or stop is called.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.n.Run(ctx, nil) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(h.stop)
}

func (h *harness) enqueue(channel string, note api.Notification) {
	h.t.Helper()
	if err := h.n.Enqueue(channel, note); err != nil {
		h.t.Fatalf("Enqueue(%s): %v", channel, err)
	}
}

// enqueueNumbered queues count firing notifications, seq 1 to count.
func (h *harness) enqueueNumbered(channel string, count int) {
	h.t.Helper()
	for i := 1; i <= count; i++ {
		h.enqueue(channel, notification(alert("disk_full", api.AlertFiring, strconv.Itoa(i))))
	}
}

func (h *harness) status(channel string) api.NotificationChannelObserved {
	return h.n.Status()[channel]
}

// alert builds a test alert of rule in state with a label that tells
// notifications apart.
func alert(rule, state, seq string) api.Alert {
	labels := map[string]string{"severity": "critical", "seq": seq}
	a := api.Alert{Rule: rule, State: state, Labels: labels, Value: 93.5, Threshold: 90,
		Annotations: map[string]string{"summary": "disk almost full (" + seq + ")"},
		StartsAt:    time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)}
	if state == api.AlertResolved {
		a.EndsAt = time.Date(2030, 1, 2, 3, 30, 0, 0, time.UTC)
	}
	a.Fingerprint = api.AlertFingerprint(rule, labels)
	return a
}

func notification(alerts ...api.Alert) api.Notification {
	return api.Notification{Host: "web1", HostID: "0123abcd", Alerts: alerts, Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// receiver is an HTTP receiver that records what it accepts and answers
// as the test says.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	answer   int           // status to answer; 0 means 200
	limit    int           // when > 0, requests past this many accepted are answered 503
	hang     chan struct{} // when set, requests block until it is closed or the client gives up
	bodies   [][]byte      // bodies answered 2xx, in order
	headers  []http.Header
	attempts int // every request, whatever the answer
	hanging  int // requests blocked in hang now
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverOn serves on l, an address a channel already points at.
func newReceiverOn(t *testing.T, l net.Listener) *receiver {
	r := &receiver{}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	_ = r.srv.Listener.Close()
	r.srv.Listener = l
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// url is where the receiver listens, with a path.
func (r *receiver) url() string { return r.srv.URL + "/hook" }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.attempts++
	answer, hang := r.answer, r.hang
	if r.limit > 0 && len(r.bodies) >= r.limit {
		answer = http.StatusServiceUnavailable
	}
	if hang != nil {
		r.hanging++
	}
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		r.mu.Lock()
		r.hanging--
		r.mu.Unlock()
		http.Error(w, "gave up", http.StatusServiceUnavailable) // the client left long ago, or is told to retry
		return
	}
	if answer != 0 && answer != http.StatusOK {
		http.Error(w, "receiver says no", answer)
		return
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
}

func (r *receiver) set(answer int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = answer
}

func (r *receiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *receiver) tried() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// seqs returns, per accepted webhook payload, the seq labels of its alerts.
func (r *receiver) seqs(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		var p webhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("receiver got a body that is not a webhook payload: %v\n%s", err, b)
		}
		for _, a := range p.Alerts {
			out = append(out, a.Labels["seq"]+":"+a.Status)
		}
	}
	return out
}

// webhookSpec is a webhook channel whose attempts time out only after 5m
// on the fake clock, which tests move in far smaller steps.
func webhookSpec(name, url string) api.NotificationChannel {
	return api.NotificationChannel{Name: name, Type: api.ChannelWebhook, Webhook: &api.WebhookChannel{URL: url}, Timeout: "5m"}
}

// writeSecret writes a secret file the notifier accepts (0600).
func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func chmod(path string, mode os.FileMode) error { return os.Chmod(path, mode) }
