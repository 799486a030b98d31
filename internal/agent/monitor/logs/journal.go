package logs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// journalSource reads journald entries from `journalctl -o json --follow`:
// journalctl is the one stable reader of the journal's files, and running
// it keeps the agent free of cgo.
type journalSource struct {
	env    *sourceEnv
	argv   []string // journalctl, or a stand-in for tests.
	filter api.LogJournal
	// hostname replaces every entry's _HOSTNAME when set; localHost is used
	// for an entry without one.
	hostname, localHost []byte
	startAtEnd          bool
}

// journalFields are the fields the forwarder maps to syslog; journalctl
// adds __CURSOR and the timestamps to every entry itself.
var journalFields = []string{
	"MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_FACILITY", "SYSLOG_IDENTIFIER",
	"SYSLOG_PID", "_COMM", "_PID", "_HOSTNAME",
}

// maxJournalLine bounds one entry as journalctl prints it; a longer entry
// is skipped with a warning, so memory stays bounded.
const maxJournalLine = 1 << 20

func (s *journalSource) key() string { return "journal" }

// journalArgs is journalctl's argument list: options only, each one
// argument with its value after "=", so no value can be taken for an
// option.
//
// A resume point is given with --cursor, which prints the entry at the
// cursor too, and the reader drops that entry: --after-cursor skips two
// entries after seeking (sd_journal_next_skip(j, 2)), and when the entry at
// the cursor does not match the filters (they changed since it was saved),
// the second skip passes over an entry that should have been sent.
func journalArgs(f api.LogJournal, cursor string, follow bool) []string {
	args := []string{"--output=json", "--all", "--quiet", "--no-pager",
		"--output-fields=" + strings.Join(journalFields, ",")}
	if follow {
		// Without --no-tail, --follow first prints only the last 10 entries
		// after the cursor and the rest once the journal changes again.
		args = append(args, "--follow", "--no-tail")
	}
	if cursor != "" {
		args = append(args, "--cursor="+cursor)
	}
	for _, u := range f.Units {
		args = append(args, "--unit="+u)
	}
	for _, id := range f.Identifiers {
		args = append(args, "--identifier="+id)
	}
	if f.Priority != "" {
		args = append(args, "--priority="+f.Priority)
	}
	return args
}

func (s *journalSource) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.argv[0], append(slices.Clone(s.argv[1:]), args...)...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// start finds the last matching entry, so that only what is logged after
// it is sent. With no matching entry yet, the journal is read from its
// beginning: whatever matches there is new.
func (s *journalSource) start(ctx context.Context) (position, error) {
	pos := position{known: true}
	if !s.startAtEnd {
		return pos, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := s.command(ctx, append(journalArgs(s.filter, "", false), "--lines=1"))
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return pos, fmt.Errorf("find the journal's last entry with %s: %w%s", s.argv[0], err, stderr.suffix())
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return pos, nil
	}
	var e journalEntry
	if err := json.Unmarshal(out[bytes.LastIndexByte(out, '\n')+1:], &e); err != nil {
		return pos, fmt.Errorf("find the journal's last entry: decode %s output: %w", s.argv[0], err)
	}
	pos.Cursor = string(e.Cursor)
	return pos, nil
}

func (s *journalSource) run(ctx context.Context, pos position, emit emitFunc) {
	retry := s.env.retry()
	for {
		var err error
		if !pos.known {
			var p position
			if p, err = s.start(ctx); err == nil {
				b := newBatch(s.env.idx)
				b.pos = p
				if !emit(b) {
					return
				}
				pos = p
			}
		}
		if err == nil {
			var progressed bool
			progressed, err = s.follow(ctx, &pos, emit)
			if progressed {
				retry.reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.env.report(err)
		if !sleep(ctx, retry.next()) {
			return
		}
	}
}

// follow runs journalctl from pos and emits what it prints until it exits
// or ctx is done; pos follows the entries emitted.
func (s *journalSource) follow(parent context.Context, pos *position, emit emitFunc) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	cmd := s.command(ctx, journalArgs(s.filter, pos.Cursor, true))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false, fmt.Errorf("run %s: %w", s.argv[0], err)
	}
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("run %s: %w", s.argv[0], err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	skip := pos.Cursor // --cursor prints the entry at the cursor again.
	var (
		e       journalEntry
		long    []byte
		b       *batch
		readErr error
	)
	for {
		var line []byte
		line, long, readErr = readJournalLine(r, long)
		if readErr != nil {
			break
		}
		if len(line) > maxJournalLine {
			s.env.log.Warn("journal entry too long to forward; skipped", "bytes", len(line), "limit", maxJournalLine)
			continue
		}
		e = journalEntry{}
		if err := json.Unmarshal(line, &e); err != nil {
			s.env.log.Warn("journalctl printed a line that is not an entry; skipped", "error", err)
			continue
		}
		if skip != "" {
			at := skip
			skip = ""
			if string(e.Cursor) == at {
				continue
			}
		}
		if b == nil {
			b = newBatch(s.env.idx)
		}
		m := s.message(&e)
		s.env.enc.add(b, &m)
		b.pos = position{Cursor: string(e.Cursor), known: true}
		if b.full() || r.Buffered() == 0 {
			p := b.pos
			if !emit(b) {
				b = nil
				break
			}
			b, *pos, progressed = nil, p, true
			s.env.report(nil)
		}
	}
	if b != nil {
		p := b.pos
		if emit(b) {
			*pos, progressed = p, true
		}
	}
	stopped := parent.Err() != nil
	cancel()
	waitErr := cmd.Wait()
	if stopped {
		return progressed, errStopped
	}
	if !errors.Is(readErr, io.EOF) {
		return progressed, fmt.Errorf("read %s output: %w", s.argv[0], readErr)
	}
	if waitErr != nil {
		return progressed, fmt.Errorf("%s exited: %w%s", s.argv[0], waitErr, stderr.suffix())
	}
	return progressed, fmt.Errorf("%s exited while following the journal%s", s.argv[0], stderr.suffix())
}

// readJournalLine reads one line of journalctl output. Lines longer than
// the reader's buffer are collected in long (up to just past
// maxJournalLine, so the caller sees that it is too long).
func readJournalLine(r *bufio.Reader, long []byte) (line, longBuf []byte, err error) {
	line, err = r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, long, err
	}
	long = append(long[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = r.ReadSlice('\n')
		if len(long) <= maxJournalLine {
			long = append(long, line...)
		}
	}
	return long, long, err
}

// message maps an entry to syslog the way rsyslog's imjournal does.
func (s *journalSource) message(e *journalEntry) message {
	m := message{facility: 1, severity: 6, text: e.Message} // user.info when unsaid.
	if n, ok := smallInt(e.Priority, 7); ok {
		m.severity = n
	}
	if n, ok := smallInt(e.Facility, 23); ok {
		m.facility = n
	}
	if us, err := strconv.ParseInt(string(e.Realtime), 10, 64); err == nil {
		m.time = time.UnixMicro(us)
	}
	m.hostname = s.hostname
	if m.hostname == nil {
		m.hostname = firstOf(e.Hostname, s.localHost)
	}
	m.appName = firstOf(e.Identifier, e.Comm)
	m.procID = firstOf(e.SyslogPID, e.PID)
	m.msgID = e.MessageID
	return m
}

func firstOf(vs ...[]byte) []byte {
	for _, v := range vs {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

func smallInt(v []byte, limit int) (int, bool) {
	n, err := strconv.Atoi(string(v))
	return n, err == nil && n >= 0 && n <= limit
}

// journalEntry holds the fields of one journalctl JSON line the forwarder
// uses.
type journalEntry struct {
	Cursor     journalValue `json:"__CURSOR"`
	Realtime   journalValue `json:"__REALTIME_TIMESTAMP"`
	Message    journalValue `json:"MESSAGE"`
	MessageID  journalValue `json:"MESSAGE_ID"`
	Priority   journalValue `json:"PRIORITY"`
	Facility   journalValue `json:"SYSLOG_FACILITY"`
	Identifier journalValue `json:"SYSLOG_IDENTIFIER"`
	SyslogPID  journalValue `json:"SYSLOG_PID"`
	Comm       journalValue `json:"_COMM"`
	PID        journalValue `json:"_PID"`
	Hostname   journalValue `json:"_HOSTNAME"`
}

// journalValue is a field as journalctl's JSON output has it: a string; an
// array of byte values when the field is not printable UTF-8; an array of
// such values when the entry has the field more than once (the first is
// taken); or null.
type journalValue []byte

// UnmarshalJSON decodes any of the forms journalctl prints.
func (v *journalValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		*v = nil
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode journal field: %w", err)
		}
		*v = journalValue(s)
		return nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return fmt.Errorf("decode journal field: %w", err)
		}
		if len(items) == 0 {
			*v = nil
			return nil
		}
		if c := bytes.TrimSpace(items[0]); len(c) > 0 && (c[0] == '"' || c[0] == '[') {
			return v.UnmarshalJSON(c)
		}
		out := make([]byte, len(items))
		for i, it := range items {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(it)), 10, 8)
			if err != nil {
				return fmt.Errorf("decode journal field: byte %d: %w", i, err)
			}
			out[i] = byte(n)
		}
		*v = out
		return nil
	}
	return fmt.Errorf("decode journal field: unexpected %.20q", b)
}

// tailBuffer keeps the last 2 KiB written to it: a child's stderr, for the
// error that says why it exited.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep = 2 << 10
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > keep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
	}
	return len(p), nil
}

// suffix is ": <stderr>" for an error message, or nothing.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return ": " + s
}
