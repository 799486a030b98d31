package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// BenchmarkNotifier_enqueueDeliver1000 queues 1000 notifications and
// delivers them to a local webhook: the cost of the persisted queue (a
// durable file per notification, removed on acknowledgement), the
// history and the HTTP round trips.
func BenchmarkNotifier_enqueueDeliver1000(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	notes := make([]api.Notification, 1000)
	for i := range notes {
		notes[i] = notification(alert("disk_full", api.AlertFiring, strconv.Itoa(i%50)))
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		n, err := New(Config{StateDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.SetChannels([]api.NotificationChannel{{Name: "ops", Type: api.ChannelWebhook,
			Webhook: &api.WebhookChannel{URL: srv.URL + "/hook"}, QueueMaxEntries: 1000}}); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		got.Store(0)
		b.StartTimer()
		go func() { done <- n.Run(ctx, nil) }()
		for _, note := range notes {
			if err := n.Enqueue("ops", note); err != nil {
				b.Fatal(err)
			}
		}
		for n.Status()["ops"].Delivered < int64(len(notes)) {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if got.Load() != int64(len(notes)) {
			b.Fatalf("receiver got %d; want %d", got.Load(), len(notes))
		}
		b.StartTimer()
	}
}
