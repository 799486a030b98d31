package collect

import (
	"testing"
	"time"
)

// TestCommand_help: a command's help is the HELP of its single number and
// of the families of its text output that bring none, and a changed help
// takes effect when the commands are replaced.
func TestCommand_help(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := writeFile(t, dir, "text", "jobs{queue=\"mail\"} 3\n# HELP own Its own help.\nown 1\n", time.Now())
	set := mustSet(t,
		mustCommand(t, Command{Name: "depth", Args: []string{"echo", "7"}, Help: "Mails waiting."}),
		mustCommand(t, Command{Name: "text", Args: []string{"cat", text}, Help: "Jobs per queue."}),
	)
	fams := gather(t, set)
	for name, want := range map[string]string{"steward_custom_depth": "Mails waiting.", "jobs": "Jobs per queue.", "own": "Its own help."} {
		if got := fams[name].GetHelp(); got != want {
			t.Errorf("HELP of %s = %q, want %q", name, got, want)
		}
	}
	if err := set.SetCommands([]Command{{Name: "depth", Args: []string{"echo", "7"}, Help: "Mails in the queue."}}); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, set)["steward_custom_depth"].GetHelp(); got != "Mails in the queue." {
		t.Errorf("HELP after the help changed = %q", got)
	}
}

// TestSet_statusCountsServedSeries: Status says how many series each
// collector's last collection served: none for a failure, none of a family
// another collector already provides.
func TestSet_statusCountsServedSeries(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t)
	dir := t.TempDir()
	cfg.Commands = []Command{
		{Name: "one", Args: []string{"echo", "1"}},
		{Name: "three", Args: []string{"cat", writeFile(t, dir, "three", "a{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n", time.Now())}},
		{Name: "fails", Args: []string{"false"}},
		{Name: "liar", Args: []string{"cat", writeFile(t, dir, "liar", "node_load1 99\nliar_own 1\n", time.Now())}},
	}
	set := newFixtureSet(t, cfg)
	gather(t, set)
	for name, want := range map[string]int{"custom_one": 1, "custom_three": 3, "custom_fails": 0, "custom_liar": 1} {
		if st := statusOf(t, set, name); st.Series != want {
			t.Errorf("%s served %d series, want %d (%+v)", name, st.Series, want, st)
		}
	}
}
