package api

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30m", 30 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"7d", 7 * day, true},
		{"2w", 14 * day, true},
		{"1w3d12h", 10*day + 12*time.Hour, true},
		{"3d1h", 3*day + time.Hour, true},
		{"", 0, false},
		{"0s", 0, false},
		{"-5m", 0, false},
		{"d", 0, false},
		{"7 days", 0, false},
		{"1h7d", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
