package notify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// A receiver that is unreachable for two minutes gets every notification
// once it is back: each exactly once, in the order they were queued, and
// within retry_max of its return.
func TestNotifier_channelDownThenBack(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens: connection refused, as for a receiver that is down
	spec := webhookSpec("ops", "http://"+addr+"/hook")
	spec.RetryMin, spec.RetryMax = "1s", "1m"
	h := newHarness(t, t.TempDir(), nil, spec)
	h.start()
	began := h.clock.Now()
	for i := 1; i <= 5; i++ {
		h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, strconv.Itoa(i))))
		h.clock.Advance(10 * time.Second)
	}
	h.drive(time.Second, "two minutes of outage", func() bool { return h.clock.Now().Sub(began) >= 2*time.Minute })
	st := h.status("ops")
	if st.Delivered != 0 || st.QueueLength != 5 || st.Failed < 4 {
		t.Fatalf("during the outage: delivered %d, queued %d, failed attempts %d; want 0, 5 and several retries", st.Delivered, st.QueueLength, st.Failed)
	}
	if !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("last error %q does not say the receiver refused the connection", st.LastError)
	}

	var back net.Listener
	eventually(t, "the receiver's port to be free again", func() bool {
		back, err = net.Listen("tcp", addr)
		return err == nil
	})
	r := newReceiverOn(t, back)
	upAt := h.clock.Now()
	h.drive(time.Second, "all five delivered", func() bool { return r.accepted() >= 5 })
	if took := h.clock.Now().Sub(upAt); took > time.Minute+10*time.Second {
		t.Errorf("the backlog took %s after the receiver came back; want within retry_max (1m)", took)
	}
	// Long enough for any duplicate or stray retry to show.
	h.pass(10 * time.Minute)
	want := []string{"1:firing", "2:firing", "3:firing", "4:firing", "5:firing"}
	if diff := cmp.Diff(want, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	st = h.status("ops")
	if st.Delivered != 5 || st.QueueLength != 0 {
		t.Errorf("after the outage: delivered %d, queued %d; want 5 and 0", st.Delivered, st.QueueLength)
	}
	// Every attempt at one notification carries the same delivery id.
	delivered := h.n.History(api.DeliveryFilter{Channel: "ops", Result: api.DeliveryDelivered})
	failed := h.n.History(api.DeliveryFilter{Channel: "ops", Result: api.DeliveryFailed})
	if len(delivered) != 5 || len(failed) == 0 || failed[0].ID != delivered[0].ID || delivered[0].Attempt != len(failed)+1 {
		t.Errorf("history: %d delivered, %d failed; want 5 delivered, the first after all the failed attempts at it", len(delivered), len(failed))
	}
}

// A receiver answering 500 and one that hangs do not hold up a third
// channel: it delivers while they fail, without the clock moving at all;
// the hanging one times out on the channel's timeout and is retried.
func TestNotifier_failingAndHangingReceiversDoNotBlockOthers(t *testing.T) {
	t.Parallel()
	bad, hung, good := newReceiver(t), newReceiver(t), newReceiver(t)
	bad.set(http.StatusInternalServerError)
	release := make(chan struct{})
	hung.mu.Lock()
	hung.hang = release
	hung.mu.Unlock()
	specs := []api.NotificationChannel{webhookSpec("bad", bad.url()), webhookSpec("hung", hung.url()), webhookSpec("good", good.url())}
	for i := range specs {
		specs[i].Timeout, specs[i].RetryMin, specs[i].RetryMax = "5s", "1s", "10s"
	}
	h := newHarness(t, t.TempDir(), nil, specs...)
	h.start()
	for _, c := range []string{"hung", "bad", "good"} {
		h.enqueue(c, notification(alert("disk_full", api.AlertFiring, "1")))
	}
	eventually(t, "the hanging request to arrive", func() bool {
		hung.mu.Lock()
		defer hung.mu.Unlock()
		return hung.hanging == 1
	})
	eventually(t, "the good channel to deliver", func() bool { return good.accepted() == 1 })
	eventually(t, "the failing channel to fail", func() bool { return h.status("bad").Failed >= 1 })
	if st := h.status("hung"); st.Failed != 0 || st.QueueLength != 1 {
		t.Fatalf("the hanging channel finished (failed %d, queued %d) before its timeout passed on the clock", st.Failed, st.QueueLength)
	}
	// A second notification on the good channel goes out at once as well.
	h.enqueue("good", notification(alert("disk_full", api.AlertFiring, "2")))
	eventually(t, "the good channel's second delivery", func() bool { return good.accepted() == 2 })

	h.driveThroughAttempts(time.Second, "the hanging request to time out", func() bool { return h.status("hung").Failed >= 1 })
	if e := h.status("hung").LastError; !strings.Contains(e, "timed out after 5s") {
		t.Errorf("hanging channel's error %q does not say it timed out", e)
	}
	if e := h.status("bad").LastError; !strings.Contains(e, "HTTP 500") {
		t.Errorf("failing channel's error %q does not give the receiver's status", e)
	}
	close(release)
	hung.mu.Lock()
	hung.hang = nil
	hung.mu.Unlock()
	bad.set(http.StatusOK)
	h.drive(time.Second, "both to recover", func() bool { return hung.accepted() == 1 && bad.accepted() == 1 })
	if hung.tried() < 2 || bad.tried() < 2 {
		t.Errorf("attempts: hung %d, bad %d; want each retried", hung.tried(), bad.tried())
	}
	for _, c := range []string{"hung", "bad", "good"} {
		eventually(t, "channel "+c+" to empty its queue", func() bool { return h.status(c).QueueLength == 0 })
	}
}

// The queue keeps at most queue_max_entries and nothing older than
// queue_max_age: the oldest go first, counted, logged and in the history.
func TestNotifier_queueBounds(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	spec := webhookSpec("ops", r.url())
	spec.QueueMaxEntries, spec.QueueMaxAge = 3, "1h"
	h := newHarness(t, t.TempDir(), nil, spec)
	// Not running yet: the queue only fills.
	h.enqueueNumbered("ops", 5)
	if st := h.status("ops"); st.QueueLength != 3 || st.Dropped != 2 {
		t.Fatalf("queued %d, dropped %d; want 3 and 2", st.QueueLength, st.Dropped)
	}
	dropped := h.n.History(api.DeliveryFilter{Channel: "ops", Result: api.DeliveryDropped})
	var seqs []string
	for _, d := range dropped {
		seqs = append(seqs, d.Alerts[0].Fingerprint)
	}
	wantDropped := []string{alert("disk_full", api.AlertFiring, "1").Fingerprint, alert("disk_full", api.AlertFiring, "2").Fingerprint}
	if diff := cmp.Diff(wantDropped, seqs); diff != "" {
		t.Errorf("dropped (-want +got), want the oldest two:\n%s", diff)
	}
	if !strings.Contains(h.log.String(), "notification dropped") || !strings.Contains(h.log.String(), "queue_max_entries") {
		t.Errorf("the drop is not logged with its reason:\n%s", h.log.String())
	}
	// Past the age bound, the three left go too.
	h.clock.Advance(61 * time.Minute)
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "6")))
	if st := h.status("ops"); st.QueueLength != 1 || st.Dropped != 5 {
		t.Fatalf("after an hour: queued %d, dropped %d; want 1 and 5", st.QueueLength, st.Dropped)
	}
	h.start()
	eventually(t, "the one left to arrive", func() bool { return r.accepted() == 1 })
	if diff := cmp.Diff([]string{"6:firing"}, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	// The counters survive a restart.
	eventually(t, "the delivery to be counted", func() bool { return h.status("ops").Delivered == 1 })
	h.stop()
	h2 := newHarness(t, h.dir, h.clock, spec)
	if st := h2.status("ops"); st.Dropped != 5 || st.Delivered != 1 {
		t.Errorf("after a restart: dropped %d, delivered %d; want 5 and 1", st.Dropped, st.Delivered)
	}
}

// An agent restarted with notifications queued sends each of them, and
// none it had delivered before.
func TestNotifier_restartWithQueue(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	dir := t.TempDir()
	spec := webhookSpec("ops", r.url())
	h := newHarness(t, dir, nil, spec)
	h.enqueueNumbered("ops", 3)
	// The receiver takes the first, then fails: the daemon stops with two queued.
	r.mu.Lock()
	r.limit = 1
	r.mu.Unlock()
	h.start()
	eventually(t, "a failed attempt at the second", func() bool { return h.status("ops").Failed >= 1 })
	h.stop()
	queueDir := filepath.Join(dir, "channels", "ops", "queue")
	files, _ := os.ReadDir(queueDir)
	if len(files) != 2 {
		t.Fatalf("%d queue files after the stop; want 2", len(files))
	}
	// A write a crash interrupted left a temporary file: it was never acknowledged.
	if err := os.WriteFile(filepath.Join(queueDir, ".tmp-00000000000000000009.json-123"), []byte(`{"seq":9`), 0o600); err != nil {
		t.Fatal(err)
	}

	if r.accepted() != 1 {
		t.Fatalf("the receiver accepted %d before the restart; want 1", r.accepted())
	}
	r.mu.Lock()
	r.limit = 0
	r.mu.Unlock()
	h2 := newHarness(t, dir, h.clock, spec)
	if st := h2.status("ops"); st.QueueLength != 2 || st.Delivered != 1 || st.Damaged != 0 {
		t.Fatalf("after the restart: queued %d, delivered %d, damaged %d; want 2, 1 and 0 (an interrupted write is no damage)", st.QueueLength, st.Delivered, st.Damaged)
	}
	h2.start()
	h2.drive(time.Second, "the queued two", func() bool { return r.accepted() == 3 })
	h2.pass(5 * time.Minute)
	if diff := cmp.Diff([]string{"1:firing", "2:firing", "3:firing"}, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s\nfirst run:\n%s\nsecond run:\n%s", diff, h.log.String(), h2.log.String())
	}
	if left, _ := os.ReadDir(queueDir); len(left) != 0 {
		t.Errorf("queue directory still holds %v", left)
	}
}

// acceptThenStop is a receiver that accepts a notification just as the
// daemon is told to stop: the answer comes back after the stop began.
type acceptThenStop struct{ stop context.CancelFunc }

func (a acceptThenStop) send(context.Context, message) error {
	a.stop()
	return nil
}

// stuckSender is an attempt that, once cancelled, returns only when the
// test releases it: a lane slow to stop.
type stuckSender struct {
	started, release chan struct{}
}

func (s stuckSender) send(ctx context.Context, _ message) error {
	close(s.started)
	<-ctx.Done()
	<-s.release
	return ctx.Err()
}

// Deleting a channel (the provider's destroy) stops its lane and deletes
// its directory while its spec file is still there; a reload of the specs
// in the meantime (terraform destroys several channels at once, and each
// deleted file makes the daemon reload) must not open the channel again:
// that wrote into the directory being deleted ("directory not empty") and
// left a lane running for a deleted channel.
func TestNotifier_reloadDuringRemove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := webhookSpec("ops", "http://127.0.0.1:9/never")
	h := newHarness(t, dir, nil, spec)
	stuck := stuckSender{started: make(chan struct{}), release: make(chan struct{})}
	c := h.n.channel("ops")
	c.mu.Lock()
	c.send = stuck
	c.mu.Unlock()
	h.start()
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "1")))
	select {
	case <-stuck.started:
	case <-time.After(realDeadline):
		t.Fatal("no delivery attempt")
	}
	removed := make(chan error, 1)
	go func() { removed <- h.n.Remove("ops") }()
	eventually(t, "Remove to take the channel out", func() bool { return h.n.channel("ops") == nil })
	if err := h.n.SetChannels([]api.NotificationChannel{spec}); err != nil { // the spec file is still there
		t.Fatal(err)
	}
	close(stuck.release)
	if err := <-removed; err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if h.n.channel("ops") != nil {
		t.Error("the reload during Remove opened the channel again")
	}
	if _, err := os.Stat(filepath.Join(dir, "channels", "ops")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the channel's directory after Remove: %v; want it gone", err)
	}
}

// A notification acknowledged while the daemon stops counts as delivered
// and is not sent again by the next run.
func TestNotifier_acknowledgedWhileStopping(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := webhookSpec("ops", "http://127.0.0.1:9/never")
	h := newHarness(t, dir, nil, spec)
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "1")))
	ctx, cancel := context.WithCancel(context.Background())
	c := h.n.channel("ops")
	c.mu.Lock()
	c.send = acceptThenStop{stop: cancel}
	c.mu.Unlock()
	if err := h.n.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if st := h.status("ops"); st.Delivered != 1 || st.QueueLength != 0 {
		t.Errorf("after the stop: delivered %d, queued %d; want 1 and 0", st.Delivered, st.QueueLength)
	}
	if st := newHarness(t, dir, h.clock, spec).status("ops"); st.QueueLength != 0 || st.Delivered != 1 {
		t.Errorf("the next run: queued %d, delivered %d; want 0 and 1 (nothing to send again)", st.QueueLength, st.Delivered)
	}
}

// A queue file that does not parse is moved aside and reported; the rest
// of the queue is delivered in order. Damaged channel state and history
// lines are moved aside too, and the notifier starts.
func TestNotifier_damagedState(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	dir := t.TempDir()
	spec := webhookSpec("ops", r.url())
	h := newHarness(t, dir, nil, spec)
	h.enqueueNumbered("ops", 3)
	second := filepath.Join(dir, "channels", "ops", "queue", entryFileName(2))
	if err := os.WriteFile(second, []byte(`{"seq":2,"id":"x","eve`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "channels", "ops", "state.json"), []byte("\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := `{"time":"2030-01-02T03:00:00Z","channel":"ops","type":"webhook","event":"test","result":"delivered"}`
	torn := `{"time":"2030-01-02T03:04:05Z","chan`
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(good+"\n"+torn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, dir, h.clock, spec)
	st := h2.status("ops")
	if st.QueueLength != 2 || st.Damaged != 2 || !strings.Contains(st.LastError, "moved to") {
		t.Fatalf("after opening: queued %d, damaged %d, last error %q; want 2, 2 (queue file and state) and where they went", st.QueueLength, st.Damaged, st.LastError)
	}
	damaged, _ := os.ReadDir(filepath.Join(dir, "damaged"))
	var names []string
	for _, d := range damaged {
		names = append(names, strings.SplitN(d.Name(), ".", 2)[0])
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"history", "ops-state", "queue-ops-00000000000000000002"}, names); diff != "" {
		t.Errorf("moved aside (-want +got):\n%s", diff)
	}
	if recs := h2.n.History(api.DeliveryFilter{Result: api.DeliveryDamaged}); len(recs) != 2 {
		t.Errorf("%d damaged records in the history; want 2", len(recs))
	}
	if recs := h2.n.History(api.DeliveryFilter{Event: api.DeliveryTest}); len(recs) != 1 {
		t.Errorf("%d readable history records kept; want the one before the torn line", len(recs))
	}
	if !strings.Contains(h2.log.String(), "delivery history damaged") || !strings.Contains(h2.log.String(), "queued notification damaged") {
		t.Errorf("damage not logged:\n%s", h2.log.String())
	}
	h2.start()
	eventually(t, "the two readable notifications", func() bool { return r.accepted() == 2 })
	if diff := cmp.Diff([]string{"1:firing", "3:firing"}, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// A receiver that refuses a notification as malformed (400) gets it once:
// it is recorded as rejected and the queue moves on.
func TestNotifier_rejectedIsNotRetried(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	r.set(http.StatusBadRequest)
	h := newHarness(t, t.TempDir(), nil, webhookSpec("ops", r.url()))
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "1")))
	h.start()
	eventually(t, "the rejection", func() bool { return h.status("ops").Rejected == 1 })
	r.set(http.StatusOK)
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "2")))
	h.drive(time.Second, "the second", func() bool { return r.accepted() == 1 })
	if r.tried() != 2 {
		t.Errorf("%d requests; want 2 (the rejected one is not sent again)", r.tried())
	}
	if diff := cmp.Diff([]string{"2:firing"}, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// A still-firing alert is sent again every repeat_interval, until it
// resolves.
func TestNotifier_repeat(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	spec := webhookSpec("ops", r.url())
	spec.RepeatInterval = "1h"
	h := newHarness(t, t.TempDir(), nil, spec)
	h.start()
	h.enqueue("ops", notification(alert("disk_full", api.AlertFiring, "1")))
	eventually(t, "the first notification", func() bool { return r.accepted() == 1 })
	h.pass(59 * time.Minute)
	if r.accepted() != 1 {
		t.Fatalf("a repeat before repeat_interval passed")
	}
	h.drive(10*time.Second, "the repeat", func() bool { return r.accepted() == 2 })
	eventually(t, "the repeat's record", func() bool {
		return len(h.n.History(api.DeliveryFilter{Event: api.DeliveryRepeat, Result: api.DeliveryDelivered})) == 1
	})
	h.enqueue("ops", notification(alert("disk_full", api.AlertResolved, "1")))
	eventually(t, "the resolve", func() bool { return r.accepted() == 3 })
	h.pass(5 * time.Hour)
	if diff := cmp.Diff([]string{"1:firing", "1:firing", "1:resolved"}, r.seqs(t)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	if st := h.status("ops"); st.Firing != 0 {
		t.Errorf("%d alerts still tracked as firing after the resolve", st.Firing)
	}
}

// The heartbeat pings every interval while alerting is healthy, and stops
// (recorded, in the status) while it is not.
func TestNotifier_heartbeat(t *testing.T) {
	t.Parallel()
	pings := newReceiver(t)
	hook := newReceiver(t)
	spec := webhookSpec("ops", hook.url())
	spec.Heartbeat = &api.ChannelHeartbeat{URLFile: writeSecret(t, "hb-url", pings.srv.URL+"/ping/6f1c2a44-secret-uuid\n"), Interval: "1m", Method: "POST"}
	var healthy atomic.Bool
	healthy.Store(true)
	h := newHarnessWith(t, Config{StateDir: t.TempDir(), Alive: func() error {
		if healthy.Load() {
			return nil
		}
		return errors.New("no rule evaluation for 5m")
	}}, nil, spec)
	h.start()
	eventually(t, "the first heartbeat", func() bool { return pings.accepted() == 1 })
	h.drive(10*time.Second, "the second heartbeat", func() bool { return pings.accepted() == 2 })
	pings.mu.Lock()
	body := string(pings.bodies[1])
	pings.mu.Unlock()
	if !strings.Contains(body, `"status":"alive"`) || !strings.Contains(body, `"host":"web1"`) {
		t.Errorf("heartbeat body %s does not say the host is alive", body)
	}
	healthy.Store(false)
	h.drive(10*time.Second, "a withheld heartbeat", func() bool { return h.status("ops").LastHeartbeatError != "" })
	h.pass(2 * time.Minute)
	if pings.accepted() != 2 {
		t.Errorf("%d heartbeats while alerting was unhealthy; want none after the first two", pings.accepted())
	}
	recs := h.n.History(api.DeliveryFilter{Channel: "ops"})
	if len(recs) != 1 || recs[0].Event != api.DeliveryHeartbeat || recs[0].Result != api.DeliveryFailed ||
		!strings.Contains(recs[0].Error, "no rule evaluation") {
		t.Errorf("history %+v; want one failed heartbeat saying why", recs)
	}
	if strings.Contains(h.log.String(), "6f1c2a44") {
		t.Errorf("the heartbeat URL's token is in the log:\n%s", h.log.String())
	}
}

// Test sends at once, outside the queue, and returns the receiver's error.
func TestNotifier_Test(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	h := newHarness(t, t.TempDir(), nil, webhookSpec("ops", r.url()))
	if err := h.n.Test(t.Context(), "ops"); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if r.accepted() != 1 {
		t.Fatalf("receiver got %d requests; want the test", r.accepted())
	}
	r.set(http.StatusForbidden)
	err := h.n.Test(t.Context(), "ops")
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("Test against a refusing receiver: %v; want its HTTP 403", err)
	}
	recs := h.n.History(api.DeliveryFilter{Channel: "ops"})
	if len(recs) != 2 || recs[0].Event != api.DeliveryTest || recs[0].Result != api.DeliveryDelivered || recs[1].Result != api.DeliveryFailed {
		t.Errorf("history %+v; want a delivered and a failed test", recs)
	}
	if st := h.status("ops"); st.QueueLength != 0 || st.Delivered != 0 {
		t.Errorf("a test went through the queue: %+v", st)
	}
	if err := h.n.Test(t.Context(), "nope"); err == nil {
		t.Error("Test of an unknown channel: no error")
	}
}
