package api

import (
	"testing"
	"time"
)

func TestDeliveryFilter_Match(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := DeliveryRecord{Time: at, Channel: "ops", Event: DeliveryNotification, Result: DeliveryFailed,
		Alerts: []DeliveryAlert{{Rule: "disk_full", State: AlertFiring}, {Rule: "cpu", State: AlertResolved}}}
	for _, tt := range []struct {
		f    DeliveryFilter
		want bool
	}{
		{DeliveryFilter{}, true},
		{DeliveryFilter{Channel: "ops", Result: DeliveryFailed, Event: DeliveryNotification}, true},
		{DeliveryFilter{Channel: "other"}, false},
		{DeliveryFilter{Rule: "disk_full", State: AlertFiring}, true},
		{DeliveryFilter{Rule: "disk_full", State: AlertResolved}, false}, // the state of that rule's alert
		{DeliveryFilter{Since: at.Add(time.Second)}, false},
		{DeliveryFilter{Until: at.Add(-time.Second)}, false},
		{DeliveryFilter{Since: at, Until: at}, true},
	} {
		if got := tt.f.Match(r); got != tt.want {
			t.Errorf("%+v.Match = %v; want %v", tt.f, got, tt.want)
		}
	}
}
