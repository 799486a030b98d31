package logs

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rsyslog is a real rsyslogd (Debian package rsyslog, and rsyslog-gnutls
// for TLS) the test runs on 127.0.0.1 and a free port, writing every
// message it receives to a file, one line each.
type rsyslog struct {
	t        testing.TB
	dir      string
	conf     string
	out      string
	port     int
	protocol string // "tcp", "udp" or "tls"
	cmd      *exec.Cmd
	exited   chan struct{}
}

// rsyslogTemplate is how the receiver writes what it got: the fields the
// forwarder maps, then the text.
const rsyslogTemplate = `%hostname% %app-name% %procid% %msgid% %pri% %timereported:::date-rfc3339% %msg%\n`

type tlsFiles struct{ ca, cert, key string }

func rsyslogdPath(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skip("rsyslogd not installed (Debian package rsyslog); the forwarding tests need a real receiver")
	}
	return p
}

func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		addr, _ := c.LocalAddr().(*net.UDPAddr)
		return addr.Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	addr, _ := l.Addr().(*net.TCPAddr)
	return addr.Port
}

// startRsyslog starts a receiver; with tls set it speaks TLS with that
// certificate (needs rsyslog-gnutls).
func startRsyslog(t testing.TB, protocol string, tlsf *tlsFiles) *rsyslog {
	return startRsyslogWith(t, protocol, tlsf, rsyslogTemplate)
}

// startRsyslogWith starts a receiver that writes what it gets with the
// given rsyslog template.
func startRsyslogWith(t testing.TB, protocol string, tlsf *tlsFiles, template string) *rsyslog {
	t.Helper()
	bin := rsyslogdPath(t)
	dir := t.TempDir()
	r := &rsyslog{t: t, dir: dir, out: filepath.Join(dir, "received.log"), protocol: protocol,
		conf: filepath.Join(dir, "rsyslog.conf")}
	network := "tcp"
	if protocol == "udp" {
		network = "udp"
	}
	r.port = freePort(t, network)
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q maxMessageSize=\"64k\"", dir)
	if tlsf != nil {
		if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"); err != nil {
			if _, err := os.Stat("/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so"); err != nil {
				t.Skip("rsyslog-gnutls not installed; the TLS test needs rsyslog's gtls driver")
			}
		}
		fmt.Fprintf(&conf, " defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			tlsf.ca, tlsf.cert, tlsf.key)
	}
	conf.WriteString(")\n")
	switch protocol {
	case "udp":
		fmt.Fprintf(&conf, "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n", r.port)
	case "tls":
		conf.WriteString("module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n")
		fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.port)
	default:
		conf.WriteString("module(load=\"imtcp\")\n")
		fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.port)
	}
	fmt.Fprintf(&conf, "template(name=\"received\" type=\"string\" string=\"%s\")\n", template)
	fmt.Fprintf(&conf, "*.* action(type=\"omfile\" file=%q template=\"received\")\n", r.out)
	if err := os.WriteFile(r.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *rsyslog) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *rsyslog) start(bin string) {
	r.t.Helper()
	logf, err := os.OpenFile(filepath.Join(r.dir, "rsyslogd.stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	r.cmd = exec.Command(bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.exited)
	r.waitReady()
}

// waitReady waits until the receiver takes connections (TCP, TLS) or
// writes what it gets (UDP: a probe message comes back).
func (r *rsyslog) waitReady() {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			r.t.Fatalf("rsyslogd exited at start: %s", r.stderr())
		default:
		}
		if r.protocol == "udp" {
			c, err := net.Dial("udp", r.addr())
			if err == nil {
				_, _ = c.Write([]byte("<14>1 - probehost probe - - - ready"))
				_ = c.Close()
			}
			time.Sleep(50 * time.Millisecond)
			if strings.Contains(r.readAll(), " probe ") {
				return
			}
			continue
		}
		c, err := net.DialTimeout("tcp", r.addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("rsyslogd not ready on %s: %s", r.addr(), r.stderr())
}

// restart starts the receiver again on the same port, as after an outage.
func (r *rsyslog) restart() {
	r.t.Helper()
	r.start(rsyslogdPath(r.t))
}

// stop ends the receiver as an operator would (SIGTERM) and waits for it.
func (r *rsyslog) stop() {
	r.signalStop(syscall.SIGTERM)
}

func (r *rsyslog) signalStop(sig syscall.Signal) {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

func (r *rsyslog) stderr() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.stderr"))
	return string(b)
}

func (r *rsyslog) readAll() string {
	b, _ := os.ReadFile(r.out)
	return string(b)
}

// received is one message as the receiver wrote it.
type received struct {
	hostname, app, procid, msgid, pri, time, msg string
}

func (r *rsyslog) received() []received {
	var out []received
	sc := bufio.NewScanner(bytes.NewReader([]byte(r.readAll())))
	sc.Buffer(make([]byte, 128<<10), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 7)
		if len(f) < 6 {
			continue
		}
		m := received{hostname: f[0], app: f[1], procid: f[2], msgid: f[3], pri: f[4], time: f[5]}
		if len(f) == 7 {
			m.msg = f[6]
		}
		if m.app == "probe" {
			continue
		}
		out = append(out, m)
	}
	return out
}
