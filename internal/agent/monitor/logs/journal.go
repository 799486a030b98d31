package logs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
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

// journalSource reads journald entries from `journalctl --output=export
// --follow`: journalctl is the one stable reader of the journal's files,
// and running it keeps the agent free of cgo. The export format (the
// Journal Export Format) costs journalctl a third of the CPU of its JSON
// output and carries binary fields as they are.
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

// maxJournalField bounds what is kept of one field: a message is cut to
// at most 65507 octets anyway, so memory stays bounded whatever is logged.
const maxJournalField = 64 << 10

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
	args := []string{"--output=export", "--quiet", "--no-pager",
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
	var e journalEntry
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		if err := e.read(r); err != nil {
			break
		}
		pos.Cursor = string(e.Cursor)
	}
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
		b       *batch
		readErr error
	)
	for {
		if readErr = e.read(r); readErr != nil {
			break
		}
		if skip != "" {
			at := skip
			skip = ""
			if string(e.Cursor) == at {
				continue
			}
		}
		if len(e.Cursor) == 0 {
			continue // Not an entry journalctl would print; nothing to resume at.
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

// journalEntry holds the fields of one entry the forwarder uses. Its
// buffers are reused from entry to entry.
type journalEntry struct {
	Cursor, Realtime, Message, MessageID, Priority, Facility []byte
	Identifier, SyslogPID, Comm, PID, Hostname               []byte
	lenBuf                                                   [8]byte
}

// field is where the value of the field named key goes; nil for fields
// the forwarder does not use, and for a field seen before in this entry
// (a field logged twice: the first value is taken).
func (e *journalEntry) field(key []byte) *[]byte {
	var f *[]byte
	switch string(key) {
	case "__CURSOR":
		f = &e.Cursor
	case "__REALTIME_TIMESTAMP":
		f = &e.Realtime
	case "MESSAGE":
		f = &e.Message
	case "MESSAGE_ID":
		f = &e.MessageID
	case "PRIORITY":
		f = &e.Priority
	case "SYSLOG_FACILITY":
		f = &e.Facility
	case "SYSLOG_IDENTIFIER":
		f = &e.Identifier
	case "SYSLOG_PID":
		f = &e.SyslogPID
	case "_COMM":
		f = &e.Comm
	case "_PID":
		f = &e.PID
	case "_HOSTNAME":
		f = &e.Hostname
	default:
		return nil
	}
	if len(*f) > 0 {
		return nil
	}
	return f
}

func (e *journalEntry) reset() {
	for _, f := range []*[]byte{&e.Cursor, &e.Realtime, &e.Message, &e.MessageID, &e.Priority, &e.Facility,
		&e.Identifier, &e.SyslogPID, &e.Comm, &e.PID, &e.Hostname} {
		*f = (*f)[:0]
	}
}

// read reads the next entry in the Journal Export Format: fields as
// "NAME=value" lines, or, for values that are not printable text, "NAME",
// a newline, the length as 64-bit little endian and the bytes; an empty
// line ends the entry. Each value is kept up to maxJournalField bytes.
func (e *journalEntry) read(r *bufio.Reader) error {
	e.reset()
	fields := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A text field longer than the buffer: keep its start.
			key, val, ok := bytes.Cut(line, []byte{'='})
			f := (*[]byte)(nil)
			if ok {
				f = e.field(key)
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				if f != nil {
					*f = appendBounded(*f, val)
				}
				val, err = r.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			if f != nil {
				*f = appendBounded(*f, val[:len(val)-1])
			}
			fields++
			continue
		}
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			if fields > 0 {
				return nil
			}
			continue
		}
		fields++
		if key, val, ok := bytes.Cut(line, []byte{'='}); ok {
			if f := e.field(key); f != nil {
				*f = appendBounded(*f, val)
			}
			continue
		}
		f := e.field(line) // A binary field; line is gone after the next read.
		if _, err := io.ReadFull(r, e.lenBuf[:]); err != nil {
			return fmt.Errorf("read journal field length: %w", err)
		}
		n := binary.LittleEndian.Uint64(e.lenBuf[:])
		keep := uint64(0)
		if f != nil {
			keep = min(n, maxJournalField)
			*f = slices.Grow(*f, int(keep))[:keep]
			if _, err := io.ReadFull(r, *f); err != nil {
				return fmt.Errorf("read journal field: %w", err)
			}
		}
		if _, err := r.Discard(int(n - keep + 1)); err != nil { // The rest, and the newline.
			return fmt.Errorf("read journal field: %w", err)
		}
	}
}

func appendBounded(dst, src []byte) []byte {
	return append(dst, src[:min(len(src), max(maxJournalField-len(dst), 0))]...)
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
