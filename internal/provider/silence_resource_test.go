package provider

import "testing"

// silenceConfig is a silence on a host no test reaches (plan-time only).
func silenceConfig(body string) string {
	return providerBlock("") + "resource \"steward_silence\" \"s\" {\n  host = { host = \"192.0.2.1\", trust_on_first_use = true }\n  name = \"maint\"\n" + body + "}\n"
}

// TestSilence_invalidConfig: a silence the agent would refuse fails at
// plan time, naming the attribute and what it accepts.
func TestSilence_invalidConfig(t *testing.T) {
	requireTerraform(t)
	m := "  matchers = [{ label = \"alertname\", value = \"disk\" }]\n  comment = \"disk swap\"\n"
	cases := []struct{ name, body, want string }{
		{"no window", m, `(?s)Invalid Silence.*starts_at and ends_at, or schedule and duration: required`},
		{"both windows", m + "  starts_at = \"2026-03-01T22:00:00Z\"\n  ends_at = \"2026-03-01T23:00:00Z\"\n  schedule = \"0 2 * * 0\"\n  duration = \"1h\"\n",
			blamedAt("starts_at", `set one window`)},
		{"end before start", m + "  starts_at = \"2026-03-01T22:00:00Z\"\n  ends_at = \"2026-03-01T21:00:00Z\"\n", blamedAt("ends_at", `want a time after starts_at`)},
		{"time format", m + "  starts_at = \"tomorrow\"\n  ends_at = \"2026-03-01T21:00:00Z\"\n", blamedAt("starts_at", `must be an RFC 3339 time`)},
		{"cron", m + "  schedule = \"0 25 * * *\"\n  duration = \"1h\"\n", blamedAt("schedule", `hour field "25"`)},
		{"too long", m + "  schedule = \"0 2 * * 0\"\n  duration = \"30d\"\n", blamedAt("duration", `want at most 168h`)},
		{"schedule alone", m + "  schedule = \"0 2 * * 0\"\n", blamedAt("schedule", `a recurring window needs both`)},
		{"no comment", "  matchers = [{ label = \"alertname\", value = \"disk\" }]\n  comment = \"\"\n  schedule = \"0 2 * * 0\"\n  duration = \"1h\"\n",
			blamedAt("comment", `at least 1`)},
		{"matcher label", "  matchers = [{ label = \"9x\", value = \"disk\" }]\n  comment = \"c\"\n  schedule = \"0 2 * * 0\"\n  duration = \"1h\"\n",
			blamedAt("matchers", `want a Prometheus label name`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectPlanError(t, silenceConfig(tc.body), tc.want)
		})
	}
	expectValid(t, silenceConfig(m+"  schedule = \"0 2 * * 0\"\n  duration = \"2h\"\n"))
}
