package logs

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// message is one syslog message before encoding. The string fields are
// byte slices so that a source can point them into its read buffer.
type message struct {
	facility, severity int
	time               time.Time
	hostname           []byte
	appName            []byte
	procID             []byte
	msgID              []byte
	text               []byte
}

// RFC 5424 §6 bounds of the header fields, in octets.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
)

// rfc3339Micro is RFC 5424's TIMESTAMP with the microseconds journald keeps
// (§6.2.3 allows up to six fractional digits).
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// appendMessage appends m as an RFC 5424 message (no structured data, no
// BOM: the text is sent as it was logged) of at most maxLen octets to dst.
// With octetCounting it is framed as RFC 6587 §3.4.1 has it for TCP: the
// message's length in decimal and a space in front. Text that does not fit
// is cut at a UTF-8 character boundary.
func appendMessage(dst []byte, m *message, maxLen int, octetCounting bool) []byte {
	var hdr [maxHostname + maxAppName + maxProcID + maxMsgID + 64]byte
	h := append(hdr[:0], '<')
	h = strconv.AppendInt(h, int64(m.facility*8+m.severity), 10)
	h = append(h, ">1 "...)
	if m.time.IsZero() {
		h = append(h, '-')
	} else {
		h = m.time.UTC().AppendFormat(h, rfc3339Micro)
	}
	h = append(h, ' ')
	h = appendHeaderField(h, m.hostname, maxHostname)
	h = append(h, ' ')
	h = appendHeaderField(h, m.appName, maxAppName)
	h = append(h, ' ')
	h = appendHeaderField(h, m.procID, maxProcID)
	h = append(h, ' ')
	h = appendHeaderField(h, m.msgID, maxMsgID)
	h = append(h, " -"...) // STRUCTURED-DATA: none.

	text := m.text
	if room := maxLen - len(h) - 1; len(text) > room {
		text = cutUTF8(text, max(room, 0))
	}
	n := len(h)
	if len(text) > 0 {
		n += 1 + len(text)
	}
	if octetCounting {
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, ' ')
	}
	dst = append(dst, h...)
	if len(text) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, text...)
	}
	return dst
}

// appendHeaderField appends a header field as RFC 5424 §6 allows it: 1 to
// limit octets of PRINTUSASCII (33–126). Other octets (spaces, control
// characters, non-ASCII) become '_', so a field can never shift the
// fields after it; an empty field is the NILVALUE "-".
func appendHeaderField(dst, v []byte, limit int) []byte {
	if len(v) == 0 {
		return append(dst, '-')
	}
	if len(v) > limit {
		v = v[:limit]
	}
	for _, c := range v {
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// cutUTF8 shortens b to at most n octets without splitting a UTF-8
// sequence. It backs off at most three octets, so text that is not UTF-8
// at all is still cut near n.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(b[n]); i++ {
		n--
	}
	return b[:n]
}
