package provider

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// receiver is a real rsyslogd started by the test on the fleet's bridge
// address, writing the APP-NAME and text of every message it receives to
// a file, one line each.
type receiver struct {
	t      *testing.T
	dir    string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// receiverTLS is the certificate and key files a TLS receiver serves.
type receiverTLS struct{ cert, key string }

func startReceiver(t *testing.T, bridge string, tlsFiles *receiverTLS) *receiver {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err != nil {
		t.Fatalf("the log forwarding tests need rsyslogd (Debian package rsyslog, make deps): %v", err)
	}
	// A free port on the bridge: bound and released, then taken by rsyslogd.
	ln, err := net.Listen("tcp", net.JoinHostPort(bridge, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge %s: %v", bridge, err)
	}
	r := &receiver{t: t, dir: t.TempDir(), addr: ln.Addr().String()}
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(r.addr)
	global, module := "", `module(load="imtcp")`
	if tlsFiles != nil {
		global = fmt.Sprintf(" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			tlsFiles.cert, tlsFiles.cert, tlsFiles.key)
		module = `module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`
	}
	conf := fmt.Sprintf(`global(workDirectory=%q%s)
%s
input(type="imtcp" address=%q port=%q)
template(name="seen" type="string" string="%%app-name%% %%msg%%\n")
*.* action(type="omfile" file=%q template="seen")
`, r.dir, global, module, bridge, port, r.out())
	if err := os.WriteFile(filepath.Join(r.dir, "rsyslog.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) out() string { return filepath.Join(r.dir, "received.log") }

// start runs rsyslogd and waits until it takes connections.
func (r *receiver) start() {
	r.t.Helper()
	logf, err := os.OpenFile(filepath.Join(r.dir, "rsyslogd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	r.cmd = exec.Command("/usr/sbin/rsyslogd", "-n", "-f", filepath.Join(r.dir, "rsyslog.conf"), "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.exited)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-r.exited:
			b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.log"))
			r.t.Fatalf("rsyslogd exited at start: %s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
	}
	r.t.Fatalf("rsyslogd does not listen on %s", r.addr)
}

// stop ends rsyslogd as an operator would (SIGTERM).
func (r *receiver) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

var seqLine = regexp.MustCompile(`\b([jf])seq (\d+)$`)

// sequences returns, per source ("j" for the journal, "f" for the file),
// the sequence numbers received, in the order they arrived.
func (r *receiver) sequences() map[string][]int {
	b, _ := os.ReadFile(r.out())
	out := map[string][]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := seqLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			out[m[1]] = append(out[m[1]], n)
		}
	}
	return out
}

// checkSequence says whether got holds every number from 1 to n, each new
// number arriving after all smaller ones (at least once: a number may come
// again after a reconnect, never out of order the first time), and how
// many came twice.
func checkSequence(got []int, n int) (missing []int, repeats int, err error) {
	next := 1
	for i, v := range got {
		switch {
		case v == next:
			next++
		case v < next:
			repeats++
		default:
			return nil, repeats, fmt.Errorf("%d arrived (at position %d) before %d", v, i, next)
		}
	}
	for v := next; v <= n; v++ {
		missing = append(missing, v)
	}
	return missing, repeats, nil
}

// waitSequences waits until the receiver has every number up to n of each
// source, or fails saying what is missing.
func (r *receiver) waitSequences(within time.Duration, n int, sources ...string) error {
	deadline := time.Now().Add(within)
	for {
		seqs := r.sequences()
		var problems []string
		for _, src := range sources {
			missing, repeats, err := checkSequence(seqs[src], n)
			switch {
			case err != nil:
				return fmt.Errorf("source %sseq out of order: %w", src, err)
			case len(missing) > 0:
				problems = append(problems, fmt.Sprintf("%sseq: %d of %d missing (first %d), %d repeated", src, len(missing), n, missing[0], repeats))
			default:
				r.t.Logf("%sseq: all %d arrived in order, %d repeated after reconnects", src, n, repeats)
			}
		}
		if len(problems) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s", within, strings.Join(problems, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitAtLeast waits until each source's highest number is at least n.
func (r *receiver) waitAtLeast(within time.Duration, n int) error {
	deadline := time.Now().Add(within)
	for {
		seqs := r.sequences()
		if len(seqs["j"]) > 0 && len(seqs["f"]) > 0 && slicesMax(seqs["j"]) >= n && slicesMax(seqs["f"]) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("within %s the receiver did not get line %d of both sources (got %d journal, %d file lines)", within, n, len(seqs["j"]), len(seqs["f"]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// TestAccLogForward_delivery: a steward_log_forward on a fleet host sends
// a journald unit's lines and a log file's lines to a real rsyslogd, each
// carrying a sequence number. Every number arrives, in order per source,
// across a receiver stopped for 20 s and started again and across an agent
// restart mid-stream. The spec edited by hand shows in the plan and one
// apply converges.
func TestAccLogForward_delivery(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	rcv := startReceiver(t, f.BridgeAddress, nil)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	run := "steward-seq-" + hex.EncodeToString(b)
	unit, logFile := run+".service", "/var/log/"+run+".log"
	t.Cleanup(func() { _, _ = onHost(t, f, h, "systemctl stop "+unit+" 2>/dev/null; rm -f "+logFile) })
	const lines = 1200 // 20 a second for a minute, through every fault below
	generator := fmt.Sprintf(`systemd-run --quiet --unit=%s /bin/sh -c 'i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "jseq $i"; echo "fseq $i" >> %s; sleep 0.05; done'`,
		unit, lines, logFile)
	var fileBytes int64 // the whole file acknowledged
	for i := 1; i <= lines; i++ {
		fileBytes += int64(len(fmt.Sprintf("fseq %d\n", i)))
	}
	spec := "/etc/steward/log_forward/app.json"
	config := hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_log_forward" "l" {
  host     = steward_host.h.host_connection
  name     = "app"
  start_at = "beginning"
  journal  = { units = [%q] }
  files    = [{ path = %q }]
  target   = { address = %q, protocol = "tcp" }
}
`, unit, logFile, rcv.addr)
	onHostStep := func(cmd string) func() {
		return func() {
			if out, err := onHost(t, f, h, cmd); err != nil {
				t.Fatalf("on %s: %s: %v\n%s", h.Name, cmd, err, out)
			}
		}
	}
	faults := func(*terraform.State) error {
		if out, err := onHost(t, f, h, generator); err != nil {
			return fmt.Errorf("start the line generator: %v\n%s", err, out)
		}
		if err := rcv.waitAtLeast(30*time.Second, 100); err != nil {
			return err
		}
		// The receiver goes away for 20 s while lines keep coming.
		rcv.stop()
		t.Logf("receiver stopped after journal line %d", slicesMax(rcv.sequences()["j"]))
		time.Sleep(20 * time.Second)
		rcv.start()
		t.Log("receiver started again")
		seqs := rcv.sequences()
		resumeAt := max(slicesMax(seqs["j"]), slicesMax(seqs["f"])) + 150
		if err := rcv.waitAtLeast(60*time.Second, resumeAt); err != nil {
			return fmt.Errorf("after the receiver came back: %w", err)
		}
		// The agent restarts mid-stream.
		if out, err := onHost(t, f, h, "systemctl restart steward-agent"); err != nil {
			return fmt.Errorf("restart the agent: %v\n%s", err, out)
		}
		t.Log("agent restarted")
		return rcv.waitSequences(90*time.Second, lines, "j", "f")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				PreConfig: onHostStep("touch " + logFile),
				Config:    config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("sources").AtSliceIndex(0).AtMapKey("source"), knownvalue.StringExact("journal")),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("sources").AtSliceIndex(1).AtMapKey("source"), knownvalue.StringExact(logFile)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "stat -c %a /etc/steward/log_forward "+spec+" /var/lib/steward/log_forward/app", "700\n600\n700"),
					faults,
				),
			},
			{
				// Read after the faults: connected, everything acknowledged.
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("connected"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("last_error"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("sources").AtSliceIndex(1).AtMapKey("offset"),
						knownvalue.Int64Exact(fileBytes)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("sources").AtSliceIndex(1).AtMapKey("lag_seconds"), knownvalue.Float64Exact(0)),
				},
				// The CLI on the host shows both sources and their positions.
				Check: hostCheck(t, f, h, "/usr/local/lib/steward/current logs status | grep -c '^app '", "3"),
			},
			{
				// Edited by hand: the plan shows it, one apply puts it back (the
				// test framework then wants an empty plan).
				PreConfig: onHostStep(`sed -i 's#"protocol": "tcp"#"protocol": "udp"#' ` + spec + ` && grep -q udp ` + spec),
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(logForwardAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("target").AtMapKey("protocol"), knownvalue.StringExact("tcp")),
				}},
				Check: hostCheck(t, f, h, "grep -c '\"protocol\": \"tcp\"' "+spec, "1"),
			},
			{
				ResourceName:            logForwardAddr,
				ImportState:             true,
				ImportStateId:           "deploy@" + h.Address + "/app",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host", "connected", "lines_sent", "last_error", "sources"},
			},
		},
	})
}
