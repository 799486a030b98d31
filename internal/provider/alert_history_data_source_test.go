package provider

import "testing"

// TestAlertHistory_invalidFilter: a filter the agent would refuse fails the
// plan before any host is reached, naming the attribute.
func TestAlertHistory_invalidFilter(t *testing.T) {
	requireTerraform(t)
	cases := []struct{ name, body, want string }{
		{"state", `state = "burning"`, blamedAt("state", `value must be one of`)},
		{"time", `since = "yesterday"`, blamedAt("since", `since must be an RFC 3339 time`)},
		{"window", "since = \"2026-03-02T00:00:00Z\"\n  until = \"2026-03-01T00:00:00Z\"", `(?s)Invalid Alert History Filter.*until 2026-03-01T00:00:00Z is\s+before since`},
		{"rule", `rule = "Disk Full"`, blamedAt("rule", `must be an object name`)},
		{"limit", `limit = 20000`, blamedAt("limit", `value must be between 0 and 10000`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectPlanError(t, providerBlock("")+"data \"steward_alert_history\" \"h\" {\n  host = { host = \"192.0.2.1\", trust_on_first_use = true }\n  "+tc.body+"\n}\n", tc.want)
		})
	}
}
