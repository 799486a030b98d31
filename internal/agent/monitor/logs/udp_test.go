package logs

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Over UDP each message is one datagram of at most 2048 octets by default
// (RFC 5426). There is no delivery guarantee: a burst larger than the
// receiver's socket buffer loses datagrams without notice, so the lines
// come at a steady pace here, and then every one arrives.
func TestForwarder_udp(t *testing.T) {
	r := startRsyslog(t, "udp", nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	spec := fileOnlySpec(r.addr(), file)
	spec.Target.Protocol = api.LogProtocolUDP
	fw := startForwarder(t, testConfig(t, spec, filepath.Join(dir, "state")))
	w := newLogWriter(t, file)
	w.write(300, 5*time.Millisecond)
	waitDelivered(t, r, 10*time.Second, span{"app", 1, 300})
	if st := fw.f.Status(); st.LinesSent != 300 || st.Sources[0].Offset != int64(300*(len(seqLine("app", 1))+1)) {
		t.Errorf("status: %d lines sent, offset %d", st.LinesSent, st.Sources[0].Offset)
	}
}
