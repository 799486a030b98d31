package logs

import (
	"bufio"
	"context"
	"sync"
	"time"
)

// A session is one connection to the receiver and one run of every source
// from the positions the receiver acknowledged. Lines are written in order
// per source; a position advances only when the receiver's TCP has
// acknowledged every byte up to it (the socket's send queue says so). When
// the connection breaks, the session ends: the sources are stopped and
// the next session reads again from the positions that settled, so
// nothing the receiver may have lost is skipped.
//
// A line settles once the connection has flowed for Settle since the
// receiver's TCP acknowledged it. The clock stops while the receiver
// acknowledges nothing of what is waiting for it: a receiver that hangs
// goes on acknowledging into its socket buffer until that is full, and
// when it then dies, what that buffer held is gone.

// checkpoint is one batch written to the connection: once the receiver has
// acknowledged end bytes of the connection, the batch's source stands at pos.
type checkpoint struct {
	end    uint64
	src    int
	pos    position
	lines  int
	oldest time.Time
	// ackedAt is when the receiver acknowledged the batch, and stalledAt
	// how long the connection had been stalled in all by then.
	ackedAt   time.Time
	stalledAt time.Duration
}

type sender struct {
	f  *Forwarder
	c  *conn
	bw *bufio.Writer // nil over UDP, where each message is a datagram.
	// unflushed are in bw; pend are on the socket, not acknowledged yet;
	// unsettled were acknowledged less than Settle ago.
	unflushed, pend, unsettled []checkpoint
	settle                     time.Duration
	ackPoll                    time.Duration
	// lastAcked is what the receiver had acknowledged at the last poll;
	// the connection is stalled since stallStart while data waits and
	// that does not grow, and stallTotal sums the stalls before.
	lastAcked  uint64
	stalled    bool
	stallStart time.Time
	stallTotal time.Duration
}

// maxAckPoll bounds the wait between looks at the send queue while some
// data is not acknowledged.
const maxAckPoll = 50 * time.Millisecond

func (f *Forwarder) session(ctx context.Context, bo *backoff) {
	sctx, cancel := context.WithCancel(ctx)
	out := make(chan *batch, 16)
	f.mu.Lock()
	start := make([]position, len(f.src))
	for i := range f.src {
		start[i] = f.src[i].acked
		f.src[i].settled = f.src[i].acked
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for i, s := range f.sources {
		wg.Go(func() { s.run(sctx, start[i], channelEmitter(sctx, out)) })
	}
	defer func() {
		cancel()
		wg.Wait()
		for len(out) > 0 {
			releaseBatch(<-out)
		}
	}()

	c, held := f.connect(ctx, bo, out)
	if c == nil {
		return
	}
	s := &sender{f: f, c: c, settle: f.cfg.Settle, ackPoll: time.Millisecond}
	if c.tcp != nil {
		s.bw = bufio.NewWriterSize(c.nc, 64<<10)
	} else {
		s.settle = 0 // UDP: nothing is acknowledged, nothing to settle.
	}
	if err := s.loop(ctx, out, held, bo); err != nil {
		s.fail(err)
		return
	}
	s.shutdown()
}

// connect dials until the receiver answers or ctx is done. Meanwhile it
// takes the first batches of lines from the sources (up to maxHeld), so
// the lag shows how long they wait, and takes moves that carry no lines
// at once when nothing of their source is waiting before them.
func (f *Forwarder) connect(ctx context.Context, bo *backoff, out <-chan *batch) (*conn, []*batch) {
	var held []*batch
	waiting := make([]bool, len(f.src))
	for {
		c, err := dial(ctx, f.cfg.Spec.Target)
		if err == nil {
			f.mu.Lock()
			f.connected = true
			f.mu.Unlock()
			f.log.Info("connected to log receiver", "address", f.cfg.Spec.Target.Address, "protocol", f.cfg.Spec.Target.Protocol)
			return c, held
		}
		if ctx.Err() != nil {
			break
		}
		f.connFailed(err)
		t := time.NewTimer(bo.next())
	wait:
		for {
			in := out
			if len(held) >= maxHeld {
				in = nil
			}
			select {
			case <-ctx.Done():
				t.Stop()
				break wait
			case <-t.C:
				break wait
			case b := <-in:
				if b.lines == 0 && !waiting[b.src] {
					f.moveTo(b.src, b.pos)
					releaseBatch(b)
					continue
				}
				held = append(held, b)
				waiting[b.src] = true
				f.mu.Lock()
				f.src[b.src].pendingFrom(b.oldest)
				f.mu.Unlock()
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, b := range held {
		releaseBatch(b)
	}
	return nil, nil
}

// maxHeld bounds the batches taken while no connection is open.
const maxHeld = 16

func (s *sourceState) pendingFrom(t time.Time) {
	if !t.IsZero() && (s.pendingSince.IsZero() || t.Before(s.pendingSince)) {
		s.pendingSince = t
	}
}

// loop writes batches as they come and follows the acknowledgements. It
// returns nil when ctx is done, else why the connection is unusable.
func (s *sender) loop(ctx context.Context, out <-chan *batch, held []*batch, bo *backoff) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	if len(held) > 0 {
		if err := s.writeBatches(held, out); err != nil {
			return err
		}
	}
	for {
		select {
		case b := <-out:
			if err := s.writeBatches([]*batch{b}, out); err != nil {
				return err
			}
		case err := <-s.c.dead:
			return closedErr(s.f.cfg.Spec.Target.Address, err)
		case <-timer.C:
		case <-ctx.Done():
			return nil
		}
		if err := s.poll(bo); err != nil {
			return err
		}
		if d, ok := s.nextPoll(); ok {
			timer.Reset(d)
		} else {
			timer.Stop()
		}
	}
}

// writeBatches writes first and whatever else is ready, then flushes.
func (s *sender) writeBatches(first []*batch, out <-chan *batch) (err error) {
	defer func() {
		if err != nil {
			for _, b := range first {
				releaseBatch(b)
			}
			err = closedErr(s.f.cfg.Spec.Target.Address, err)
		}
	}()
	if err := s.c.nc.SetWriteDeadline(time.Now().Add(s.f.cfg.WriteTimeout)); err != nil {
		return err
	}
	for len(first) > 0 {
		b := first[0]
		first = first[1:]
		if err := s.write(b); err != nil {
			return err
		}
	}
	for range 64 {
		select {
		case b := <-out:
			if err := s.write(b); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	return s.flush()
}

func (s *sender) write(b *batch) error {
	defer releaseBatch(b)
	f := s.f
	f.mu.Lock()
	st := &f.src[b.src]
	st.unacked += b.lines
	if b.lines > 0 {
		st.pendingFrom(b.oldest)
	}
	f.mu.Unlock()
	cp := checkpoint{src: b.src, pos: b.pos, lines: b.lines, oldest: b.oldest}
	if s.bw != nil {
		s.unflushed = append(s.unflushed, cp)
		_, err := s.bw.Write(b.data)
		return err
	}
	start := 0
	for _, end := range b.ends {
		if _, err := s.c.nc.Write(b.data[start:end]); err != nil {
			return err
		}
		start = end
	}
	cp.end = s.c.written()
	s.pend = append(s.pend, cp)
	return nil
}

func (s *sender) flush() error {
	if s.bw == nil {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	// Some of these batches reached the socket earlier, when bw filled up;
	// giving them the end of the last one only waits a little longer.
	end := s.c.written()
	for _, cp := range s.unflushed {
		cp.end = end
		s.pend = append(s.pend, cp)
	}
	s.unflushed = s.unflushed[:0]
	s.ackPoll = time.Millisecond
	return nil
}

// poll moves the checkpoints the receiver acknowledged, settles those
// acknowledged Settle ago, and saves the positions when due.
func (s *sender) poll(bo *backoff) error {
	acked, err := s.c.acked()
	if err != nil {
		return err
	}
	now := time.Now()
	switch {
	case acked > s.lastAcked:
		if s.stalled {
			s.stallTotal += now.Sub(s.stallStart)
			s.stalled = false
		}
		s.lastAcked = acked
	case len(s.pend) > 0 && !s.stalled:
		s.stalled, s.stallStart = true, now
	}
	stalled := s.stalledFor(now)
	n := 0
	for n < len(s.pend) && s.pend[n].end <= acked {
		s.pend[n].ackedAt, s.pend[n].stalledAt = now, stalled
		n++
	}
	if n > 0 {
		s.f.acknowledge(s.pend[:n], now)
		if s.settle > 0 {
			s.unsettled = append(s.unsettled, s.pend[:n]...)
		} else {
			s.f.settled(s.pend[:n])
		}
		s.pend = append(s.pend[:0], s.pend[n:]...)
	}
	k := 0
	for k < len(s.unsettled) && s.flowedSince(s.unsettled[k], now) >= s.settle {
		k++
	}
	if k > 0 {
		s.f.settled(s.unsettled[:k])
		s.unsettled = append(s.unsettled[:0], s.unsettled[k:]...)
	}
	if (k > 0 || n > 0 && s.settle == 0) && bo != nil {
		// Lines got through for good: the receiver works, and the next
		// outage starts with a short wait again.
		bo.reset()
	}
	s.f.persist(false)
	return nil
}

// stalledFor is how long the connection has been stalled in all.
func (s *sender) stalledFor(now time.Time) time.Duration {
	if s.stalled {
		return s.stallTotal + now.Sub(s.stallStart)
	}
	return s.stallTotal
}

// flowedSince is how long the connection flowed since cp was acknowledged.
func (s *sender) flowedSince(cp checkpoint, now time.Time) time.Duration {
	return now.Sub(cp.ackedAt) - (s.stalledFor(now) - cp.stalledAt)
}

// nextPoll is when poll has something to do again, if ever.
func (s *sender) nextPoll() (time.Duration, bool) {
	var d time.Duration
	ok := false
	take := func(v time.Duration) {
		v = max(v, time.Millisecond)
		if !ok || v < d {
			d, ok = v, true
		}
	}
	if len(s.pend) > 0 {
		take(s.ackPoll)
		s.ackPoll = min(2*s.ackPoll, maxAckPoll)
	}
	if len(s.unsettled) > 0 {
		take(s.settle - s.flowedSince(s.unsettled[0], time.Now()))
	}
	f := s.f
	f.mu.Lock()
	dirty, at := f.dirty, f.persistedAt
	f.mu.Unlock()
	if dirty {
		take(f.cfg.PersistInterval - time.Since(at))
	}
	return d, ok
}

// fail ends a session whose connection broke: the sources resume from what
// was acknowledged at least Settle ago.
func (s *sender) fail(err error) {
	s.c.close()
	f := s.f
	f.connFailed(err)
	f.mu.Lock()
	for _, list := range [][]checkpoint{s.unsettled, s.pend, s.unflushed} {
		for _, cp := range list {
			if cp.lines > 0 {
				f.src[cp.src].pendingFrom(cp.oldest)
			}
		}
	}
	for i := range f.src {
		st := &f.src[i]
		if st.acked != st.settled {
			st.acked = st.settled
			f.dirty = true
		}
		st.unacked = 0
	}
	f.mu.Unlock()
	f.persist(true)
}

// shutdown ends a session on stop: it waits (boundedly) for the receiver
// to acknowledge what was written, then saves the positions.
func (s *sender) shutdown() {
	if err := s.flush(); err == nil {
		deadline := time.Now().Add(s.f.cfg.ShutdownTimeout)
		for len(s.pend) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			if err := s.poll(nil); err != nil {
				break
			}
		}
	}
	s.c.close()
	f := s.f
	f.mu.Lock()
	f.connected = false
	for i := range f.src {
		f.src[i].unacked = 0
	}
	f.mu.Unlock()
	f.persist(true)
}

func (f *Forwarder) acknowledge(cps []checkpoint, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cp := range cps {
		st := &f.src[cp.src]
		st.acked = cp.pos
		st.unacked -= cp.lines
		if cp.lines > 0 {
			st.lines += uint64(cp.lines)
			st.lastSent = now
			f.linesSent += uint64(cp.lines)
			f.lastSent = now
		}
		if st.unacked <= 0 {
			st.unacked = 0
			st.pendingSince = time.Time{}
		}
	}
	f.dirty = true
}

func (f *Forwarder) settled(cps []checkpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cp := range cps {
		f.src[cp.src].settled = cp.pos
	}
}

// moveTo takes a move without lines while no connection is open: nothing
// of that source is waiting before it, so it stands there at once.
func (f *Forwarder) moveTo(src int, pos position) {
	f.mu.Lock()
	f.src[src].acked, f.src[src].settled = pos, pos
	f.dirty = true
	f.mu.Unlock()
	f.persist(true)
}

func (f *Forwarder) connFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = false
	f.connErrors++
	if f.lastErr != err.Error() {
		f.log.Warn("log receiver unavailable; retrying with backoff", "address", f.cfg.Spec.Target.Address, "error", err)
	}
	f.lastErr, f.lastErrAt = err.Error(), time.Now()
}
