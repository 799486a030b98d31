package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Under the daemon's supervisor the notifier rereads its channels when the
// configuration changes, and exports each channel's queue and outcomes.
func TestNotifier_asDaemonComponent(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	var mu sync.Mutex
	specs := []api.NotificationChannel{webhookSpec("a", r.url())}
	n, err := New(Config{StateDir: t.TempDir(), LoadChannels: func() ([]api.NotificationChannel, error) {
		mu.Lock()
		defer mu.Unlock()
		return specs, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	sup, err := core.NewSupervisor([]core.Component{n}, slog.New(slog.DiscardHandler), time.Now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Register(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := sup.Start(ctx, reg)
	t.Cleanup(func() { cancel(); <-stopped })

	eventually(t, "channel a", func() bool { return n.Enqueue("a", notification(alert("disk_full", api.AlertFiring, "1"))) == nil })
	eventually(t, "the delivery", func() bool { return n.Status()["a"].Delivered == 1 })
	mu.Lock()
	specs = append(specs, webhookSpec("b", r.url()))
	mu.Unlock()
	sup.ConfigChanged()
	eventually(t, "channel b after the change", func() bool { return n.Enqueue("b", notification(alert("disk_full", api.AlertFiring, "2"))) == nil })
	eventually(t, "the second delivery", func() bool { return n.Status()["b"].Delivered == 1 })

	var want strings.Builder
	want.WriteString(`# HELP steward_notification_queue_length Notifications waiting in the channel's delivery queue.
# TYPE steward_notification_queue_length gauge
steward_notification_queue_length{channel="a"} 0
steward_notification_queue_length{channel="b"} 0
# HELP steward_notifications_total Notifications by outcome: delivered, rejected by the receiver, dropped past the queue's bounds, found damaged; and failed attempts.
# TYPE steward_notifications_total counter
`)
	for _, c := range []string{"a", "b"} {
		for _, result := range []string{"damaged", "delivered", "dropped", "failed", "rejected"} {
			v := 0
			if result == "delivered" {
				v = 1
			}
			fmt.Fprintf(&want, "steward_notifications_total{channel=%q,result=%q} %d\n", c, result, v)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "steward_notification_queue_length", "steward_notifications_total"); err != nil {
		t.Error(err)
	}
}
