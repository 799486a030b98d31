package provider

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseHostState_longLine: a line the parser cannot hold fails the
// inspection instead of silently dropping every line after it.
func TestParseHostState_longLine(t *testing.T) {
	t.Parallel()
	tail := "service_active=active\nservice_enabled=enabled\nunit=present\npackage=curl=7.88.1\n"
	head := "machine_id=0123456789abcdef0123456789abcdef\nhostname=h1\n"
	cases := []struct {
		name    string
		out     string
		wantErr string
	}{
		{name: "long line within the bound", out: head + "health=" + strings.Repeat("x", maxInspectLine-len("health=")-1) + "\n" + tail},
		{name: "line over the bound", out: head + "health=" + strings.Repeat("x", 2*maxInspectLine) + "\n" + tail,
			wantErr: "a line is longer than 1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseHostState([]byte(tc.out), []string{"curl"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got %v (state %+v)", tc.wantErr, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Every line after the long one was read.
			want := struct {
				Active, Enabled, Unit bool
				Packages              map[string]string
			}{true, true, true, map[string]string{"curl": "7.88.1"}}
			gotFields := struct {
				Active, Enabled, Unit bool
				Packages              map[string]string
			}{got.ServiceActive, got.ServiceEnabled, got.UnitPresent, got.Packages}
			if d := cmp.Diff(want, gotFields); d != "" {
				t.Errorf("lines after the long one (-want +got):\n%s", d)
			}
		})
	}
}
