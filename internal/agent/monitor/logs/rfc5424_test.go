package logs

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestAppendMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	for _, c := range []struct {
		name   string
		m      message
		maxLen int
		framed bool
		want   string
	}{
		{
			name: "all fields, octet counting",
			m: message{facility: 3, severity: 4, time: at, hostname: []byte("web1"), appName: []byte("sshd"),
				procID: []byte("42"), msgID: []byte("ID47"), text: []byte("hello world")},
			maxLen: 8192, framed: true,
			want: "65 <28>1 2024-05-06T05:08:09.123456Z web1 sshd 42 ID47 - hello world",
		},
		{
			name:   "empty fields are the NILVALUE, no text no trailing space",
			m:      message{facility: 1, severity: 6},
			maxLen: 8192,
			want:   "<14>1 - - - - - -",
		},
		{
			name: "spaces and control characters in header fields cannot shift fields",
			m: message{facility: 16, severity: 5, time: at, hostname: []byte("my host"), appName: []byte("a\tb\nc"),
				procID: []byte("1 2"), text: []byte("x")},
			maxLen: 8192,
			want:   "<133>1 2024-05-06T05:08:09.123456Z my_host a_b_c 1_2 - - x",
		},
		{
			name:   "non-ASCII in a header field",
			m:      message{facility: 1, severity: 6, appName: []byte("dämon")},
			maxLen: 8192,
			want:   "<14>1 - - d__mon - - -",
		},
		{
			name:   "header fields cut to RFC 5424 lengths",
			m:      message{facility: 1, severity: 6, appName: []byte(strings.Repeat("a", 60)), msgID: []byte(strings.Repeat("m", 40))},
			maxLen: 8192,
			want:   "<14>1 - - " + strings.Repeat("a", 48) + " - " + strings.Repeat("m", 32) + " -",
		},
		{
			name:   "text kept byte for byte, newlines included",
			m:      message{facility: 1, severity: 6, text: []byte("line one\nline two \x1b[0m")},
			maxLen: 8192,
			want:   "<14>1 - - - - - - line one\nline two \x1b[0m",
		},
		{
			name:   "text cut to the size bound at a UTF-8 boundary",
			m:      message{facility: 1, severity: 6, text: []byte("ab€€")}, // € is 3 octets.
			maxLen: len("<14>1 - - - - - - ") + 4,
			want:   "<14>1 - - - - - - ab",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := string(appendMessage(nil, &c.m, c.maxLen, c.framed))
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			body := got
			if c.framed {
				n, rest, _ := strings.Cut(got, " ")
				if l, err := strconv.Atoi(n); err != nil || l != len(rest) {
					t.Errorf("octet count %q, message is %d octets", n, len(rest))
				}
				body = rest
			}
			if len(body) > c.maxLen {
				t.Errorf("message is %d octets, bound %d", len(body), c.maxLen)
			}
		})
	}
}

func TestCutUTF8(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"héllo", 2, "h"},                   // é is 2 octets: not split.
		{"héllo", 3, "hé"},                  // It fits.
		{"日本", 4, "日"},                      // 3-octet characters.
		{"abc", 10, "abc"},                  // Short enough.
		{"\x80\x80\x80\x80\x80", 4, "\x80"}, // Not UTF-8: backs off 3 octets at most.
	} {
		got := string(cutUTF8([]byte(c.in), c.n))
		if got != c.want {
			t.Errorf("cutUTF8(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if utf8.ValidString(c.in) && !utf8.ValidString(got) {
			t.Errorf("cutUTF8(%q, %d) = %q split a character", c.in, c.n, got)
		}
	}
}
