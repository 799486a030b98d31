package provider

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"golang.org/x/crypto/bcrypt"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// monitoredHost is a steward_host that collects every 5 s and watches ssh.
func monitoredHost(f fleet, h fleetHost, extra string) string {
	return hostConfig(f, h, `  monitoring = {
    interval = "5s"
    units    = ["ssh.service", "no-such-unit.service"]
`+extra+`  }`)
}

// waitOnHost runs cmd on h until its output matches want or within passes.
func waitOnHost(t *testing.T, f fleet, h fleetHost, cmd string, want *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := onHost(t, f, h, cmd)
		if err == nil && want.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("on %s, %q did not print %s within %s: %v\n%s", h.Name, cmd, want, within, err, out)
		}
		time.Sleep(time.Second)
	}
}

// TestAccMetrics_dataSource: the history on a fleet host, read with
// steward_metrics, and a check block over it as a review pipeline has it.
func TestAccMetrics_dataSource(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	host := monitoredHost(f, h, "")
	metrics := host + `
data "steward_metrics" "m" {
  host   = steward_host.h.host_connection
  window = "1h"
  select = {
    load      = { name = "node_load1" }
    root_avail = { name = "node_filesystem_avail_bytes", labels = { mountpoint = "/" } }
    root_size = { name = "node_filesystem_size_bytes", labels = { mountpoint = "/" } }
    ssh       = { name = "node_systemd_unit_state", labels = { name = "ssh.service", state = "active" } }
    missing   = { name = "node_systemd_unit_state", labels = { name = "no-such-unit.service", state = "active" } }
    rx        = { name = "node_network_receive_bytes_total", labels = { device = "lo" } }
  }
}

check "root_file_system" {
  assert {
    condition     = 1 - data.steward_metrics.m.results["root_avail"].series[0].last / data.steward_metrics.m.results["root_size"].series[0].last < 0.99
    error_message = "the root file system is more than 99 % used"
  }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: host},
			{
				// Three collections at 5 s.
				PreConfig: func() { time.Sleep(16 * time.Second) },
				Config:    metrics,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.steward_metrics.m", "results.load.series.#", "1"),
					resource.TestCheckResourceAttrWith("data.steward_metrics.m", "results.load.series.0.samples", atLeast(3)),
					resource.TestCheckResourceAttrWith("data.steward_metrics.m", "results.root_avail.series.0.last", atLeast(1)),
					resource.TestCheckResourceAttr("data.steward_metrics.m", "results.root_avail.series.0.labels.mountpoint", "/"),
					resource.TestCheckResourceAttr("data.steward_metrics.m", "results.ssh.series.0.last", "1"),
					resource.TestCheckResourceAttr("data.steward_metrics.m", "results.missing.series.0.last", "0"),
					resource.TestCheckResourceAttrWith("data.steward_metrics.m", "results.rx.series.0.rate", func(v string) error {
						if r, err := strconv.ParseFloat(v, 64); err != nil || r < 0 {
							return fmt.Errorf("rate %q, want a non-negative number", v)
						}
						return nil
					}),
					resource.TestCheckResourceAttr("data.steward_metrics.m", "id", h.MachineID),
				),
			},
		},
	})
}

// atLeast checks that a numeric attribute is at least n.
func atLeast(n float64) func(string) error {
	return func(v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < n {
			return fmt.Errorf("%q, want a number of at least %v", v, n)
		}
		return nil
	}
}

// webConfigOnHost puts a certificate for h's address, its key, and a web
// configuration with one user (prom / the returned password) on h, owned by
// root, and returns the configuration's path and the CA file for clients.
func webConfigOnHost(t *testing.T, f fleet, h fleetHost) (webConfig, caFile, password string) {
	t.Helper()
	certPEM, keyPEM := selfSignedFor(t, h.Address, h.Name)
	password = fmt.Sprintf("pw-%d", time.Now().UnixNano())
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := "tls_server_config:\n  cert_file: /etc/steward-web/cert.pem\n  key_file: /etc/steward-web/key.pem\nbasic_auth_users:\n  prom: " + string(hash) + "\n"
	script := fmt.Sprintf("set -e; umask 077; mkdir -p /etc/steward-web; printf '%%s' %s > /etc/steward-web/cert.pem; printf '%%s' %s > /etc/steward-web/key.pem; printf '%%s' %s > /etc/steward-web/web.yml",
		shellQuote(string(certPEM)), shellQuote(string(keyPEM)), shellQuote(web))
	if out, err := onHost(t, f, h, script); err != nil {
		t.Fatalf("put the web configuration on %s: %v\n%s", h.Name, err, out)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return "/etc/steward-web/web.yml", caFile, password
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// freePort is a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port //nolint:forcetypeassert // a TCP listener's address
}

// TestAccMonitoring_prometheusScrape: a real Prometheus scrapes a fleet
// host's agent on the host's own address, over TLS with basic auth as the
// web configuration says, and finds node_exporter's names; without the
// password it gets nothing.
func TestAccMonitoring_prometheusScrape(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("needs prometheus (Debian package prometheus; make deps installs it)")
	}
	cleanHost(t, f, h)
	webConfig, caFile, password := webConfigOnHost(t, f, h)
	listen := net.JoinHostPort(h.Address, "9276")
	cfg := strings.Replace(monitoredHost(f, h, fmt.Sprintf("    web_config_file = %q\n", webConfig)), "  monitoring = {",
		fmt.Sprintf("  listen_address = %q\n  monitoring = {", listen), 1)

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 2s
scrape_configs:
  - job_name: steward
    scheme: https
    tls_config: { ca_file: %s }
    basic_auth: { username: prom, password_file: %s }
    static_configs: [{ targets: [%q] }]
  - job_name: steward_no_password
    scheme: https
    tls_config: { ca_file: %s }
    static_configs: [{ targets: [%q] }]
`, caFile, pwFile, listen, caFile, listen)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=", port)
	query := func(q string) (string, error) {
		resp, err := http.Get(api + q)
		if err != nil {
			return "", err
		}
		defer func() { _ = resp.Body.Close() }()
		var body struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return "", err
		}
		var parts []string
		for _, r := range body.Data.Result {
			parts = append(parts, fmt.Sprintf("%s=%v", r.Metric["job"], r.Value[1]))
		}
		return strings.Join(parts, ","), nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: func(*terraform.State) error {
				cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
					fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
				logs, err := os.Create(filepath.Join(dir, "prometheus.log"))
				if err != nil {
					return err
				}
				cmd.Stdout, cmd.Stderr = logs, logs
				if err := cmd.Start(); err != nil {
					return err
				}
				defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
				deadline := time.Now().Add(60 * time.Second)
				for {
					up, _ := query("up")
					load, _ := query(`node_load1{job="steward"}`)
					if strings.Contains(up, "steward=1") && strings.Contains(up, "steward_no_password=0") && strings.HasPrefix(load, "steward=") {
						return nil
					}
					if time.Now().After(deadline) {
						b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
						return fmt.Errorf("after 60s Prometheus has up %q and node_load1 %q, want the scrape with the password up and the one without it down\n%s", up, load, lastLinesOf(string(b), 20))
					}
					time.Sleep(time.Second)
				}
			},
		}},
	})
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// TestAccMonitoring_statusPage: the status page of a fleet host, reached
// through an SSH tunnel as the docs show, rendered in headless Chromium:
// every chart has points in the DOM, the watched unit is listed. It saves
// the screenshot the docs show.
func TestAccMonitoring_statusPage(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("needs chromium (Debian package chromium; make deps installs it)")
	}
	cleanHost(t, f, h)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: monitoredHost(f, h, ""),
			Check: func(*terraform.State) error {
				// Enough collections for every chart (rates need two).
				waitOnHost(t, f, h, api.AgentCurrent+" metrics node_load1", regexp.MustCompile(`(?m)^node_load1 `), 30*time.Second)
				time.Sleep(35 * time.Second)
				port := freePort(t)
				tunnel := exec.Command("ssh", "-N", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
					"-o", "ExitOnForwardFailure=yes", "-i", f.PrivateKeyFile, "-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:9276", port), "deploy@"+h.Address)
				if err := tunnel.Start(); err != nil {
					return err
				}
				defer func() { _ = tunnel.Process.Kill(); _, _ = tunnel.Process.Wait() }()
				url := fmt.Sprintf("http://127.0.0.1:%d/?window=1h", port)
				for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					if resp, err := http.Get(url); err == nil {
						_ = resp.Body.Close()
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("the tunnel to %s did not open", h.Name)
					}
				}
				profile := t.TempDir()
				run := func(args ...string) ([]byte, error) {
					all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile, "--window-size=1400,1300"}, args...)
					return exec.Command(browser, all...).Output()
				}
				dom, err := run("--dump-dom", url)
				if err != nil {
					return fmt.Errorf("chromium --dump-dom: %w", err)
				}
				for _, id := range []string{"cpu", "memory", "disk", "network", "load"} {
					m := regexp.MustCompile(`data-chart="` + id + `" data-points="(\d+)"`).FindSubmatch(dom)
					if m == nil {
						return fmt.Errorf("the rendered page has no %s chart", id)
					}
					if n, _ := strconv.Atoi(string(m[1])); n < 2 {
						return fmt.Errorf("the %s chart has %d points, want at least 2", id, n)
					}
					fig := regexp.MustCompile(`(?s)id="chart-` + id + `".*?</figure>`).Find(dom)
					if !regexp.MustCompile(`<polyline [^>]*points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+`).Match(fig) {
						return fmt.Errorf("the %s chart draws no line of two points or more", id)
					}
				}
				if !regexp.MustCompile(`ssh\.service</td><td class="good">active`).Match(dom) {
					return fmt.Errorf("the page does not list ssh.service as active")
				}
				shot := filepath.Join(profile, "page.png")
				if _, err := run("--screenshot="+shot, "--hide-scrollbars", url); err != nil {
					return fmt.Errorf("chromium --screenshot: %w", err)
				}
				if b, err := os.ReadFile(shot); err != nil || len(b) < 10000 {
					return fmt.Errorf("screenshot of %d bytes (%v)", len(b), err)
				}
				if dst := os.Getenv("STEWARD_SCREENSHOT"); dst != "" {
					b, _ := os.ReadFile(shot)
					return os.WriteFile(dst, b, 0o644)
				}
				return nil
			},
		}},
	})
}
