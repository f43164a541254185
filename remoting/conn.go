package remoting

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wharfmq/wharf/internal/loglimit"
)

// badFrameLogEvery is how often at most a client logs bad frames from one
// remote address.
const badFrameLogEvery = 10 * time.Second

// Handler serves one request. It runs in its own goroutine; ctx is cancelled
// when the connection or its owner closes, and a handler must return soon
// after that. The returned command is sent as the reply after its opaque,
// response flag and serialize type are set from req, so return a fresh
// command, never a shared one. Return nil to send nothing now: for oneway
// requests, or to answer later with conn.Reply (a held long-polling pull).
type Handler func(ctx context.Context, conn *Conn, req *Command) *Command

// ErrConnClosed is returned for writes and invokes on a closed connection.
var ErrConnClosed = errors.New("remoting: connection closed")

// Connection buffer sizes. Bodies up to copyBodyMax are copied next to
// their header into the combined write buffer; larger ones go out in
// place with writev. A write buffer larger than keepWriteBuf is not kept.
const (
	readBufferSize = 16 << 10
	copyBodyMax    = 64 << 10
	keepWriteBuf   = 256 << 10
	// maxQueuedReplies is how many bytes of replies may wait for a writer
	// before the reader stops reading the peer's requests.
	maxQueuedReplies = 1 << 20
)

var (
	// nextOpaque is process-wide, like the Go client's, so opaques from
	// one process never collide on a shared connection.
	nextOpaque atomic.Int32
	nextConnID atomic.Uint64
)

// endpoint is what Server and Client share: settings, the handler table and
// the WaitGroup that owns every goroutine either of them starts.
type endpoint struct {
	log          *slog.Logger
	language     string
	version      int16
	idleTimeout  time.Duration  // between frames; 0 = none
	frameTimeout time.Duration  // silence inside a frame; 0 = none
	writeTimeout time.Duration  // 0 = none
	maxInflight  int64          // per connection; 0 = unlimited
	server       bool           // a Server's endpoint: its connections were accepted
	tlsLog       loglimit.Limit // bounds "TLS handshake on a plaintext port" lines
	// badFrames bounds a client's "bad frame" lines per remote address
	// to one per badFrameLogEvery: a client redials its configured peer
	// (a controllerAddr naming a port that is no remoting server, say)
	// every second, for ever.
	badFrames loglimit.PerKey[string]
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	authorize func(*Conn, *Command) *Command // server: refuses requests; nil = all pass
	sign      func(*Command)                 // client: signs outgoing requests; nil = none

	hmu      sync.RWMutex
	handlers map[int16]Handler // guarded by hmu
	inline   map[int16]bool    // codes run on the reader goroutine; guarded by hmu
}

func (e *endpoint) init(log *slog.Logger, language string, version int16) {
	if log == nil {
		log = slog.Default()
	}
	if language == "" {
		language = DefaultLanguage
	}
	if version == 0 {
		version = DefaultVersion
	}
	e.log, e.language, e.version = log, language, version
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.handlers = make(map[int16]Handler)
	e.inline = make(map[int16]bool)
}

func (e *endpoint) handle(code int16, h Handler, inline bool) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	delete(e.inline, code)
	if h == nil {
		delete(e.handlers, code)
		return
	}
	e.handlers[code] = h
	if inline {
		e.inline[code] = true
	}
}

func (e *endpoint) handler(code int16) (Handler, bool) {
	e.hmu.RLock()
	defer e.hmu.RUnlock()
	return e.handlers[code], e.inline[code]
}

// Conn is one TCP connection, on either side. Its reader goroutine reads
// frames continuously: responses wake the matching Invoke, requests run in
// their own goroutines. All methods are safe for concurrent use.
type Conn struct {
	ep       *endpoint
	nc       net.Conn
	raw      syscall.RawConn // nc's socket, for writes that must not wait; nil for TLS
	id       uint64
	remote   string
	local    string
	ctx      context.Context // cancelled on close; handed to handlers
	cancel   context.CancelFunc
	done     chan struct{} // closed on close
	readDone chan struct{} // closed when the reader stopped reading and its handlers returned
	once     sync.Once
	inflight atomic.Int64 // handler goroutines running

	// Writes combine: a writer appends its frame to pend and, unless
	// another goroutine is already writing, writes pend itself until it is
	// empty. Frames queued while a write is in the kernel leave in the next
	// single write, so pipelined responses share system calls.
	//
	// While the reader has requests in its buffer (readerBusy), frames
	// wait: the reader writes them itself just before it blocks on the
	// socket, so replies to a pipelined burst leave in one write.
	wmu        sync.Mutex
	wcond      sync.Cond // signalled when writing turns false; L is &wmu
	writing    bool      // a goroutine is writing; REQUIRES: wmu
	readerBusy bool      // the reader is working through buffered input; REQUIRES: wmu
	writeDead  bool      // a write failed because the peer is gone; REQUIRES: wmu
	pend       []byte    // frames waiting for the writer; REQUIRES: wmu
	spare      []byte    // the writer's last buffer, reused; REQUIRES: wmu

	br *bufio.Reader // the reader's buffer; only the reader goroutine touches it
	// inFrame: the next frame has begun (a byte of it arrived), so a
	// silent peer gets frameTimeout, not idleTimeout. Set by the reader,
	// read by startDrain too.
	inFrame atomic.Bool

	// dmu orders read-deadline updates between the reader and startDrain,
	// so that neither overwrites the other's with a stale value.
	dmu      sync.Mutex
	drainEnd time.Time // set by Server.Drain; REQUIRES: dmu
	deadline bool      // a read deadline is set; REQUIRES: dmu

	mu struct {
		sync.Mutex
		closed  bool
		pending map[int32]chan *Command // by opaque, for Invoke
		value   any
	}
}

func newConn(ep *endpoint, nc net.Conn) *Conn {
	c := &Conn{
		ep:       ep,
		nc:       nc,
		id:       nextConnID.Add(1),
		remote:   nc.RemoteAddr().String(),
		local:    nc.LocalAddr().String(),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.ctx, c.cancel = context.WithCancel(ep.ctx)
	c.mu.pending = make(map[int32]chan *Command)
	c.wcond.L = &c.wmu
	return c
}

// ID returns a process-unique number for this connection.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's "ip:port".
func (c *Conn) RemoteAddr() string { return c.remote }

// LocalAddr returns our "ip:port" on this connection.
func (c *Conn) LocalAddr() string { return c.local }

// RemoteAddrPort returns the peer address parsed (the zero value if the
// connection is not TCP), for callers that encode it as bytes (bornHost).
func (c *Conn) RemoteAddrPort() netip.AddrPort {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Done returns a channel closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Value returns the value stored with SetValue, or nil.
func (c *Conn) Value() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.value
}

// SetValue stores one value of the caller's choosing with the connection
// (for example the client id a heartbeat announced).
func (c *Conn) SetValue(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.value = v
}

// Close closes the connection. Pending invokes fail with ErrConnClosed and
// handler contexts are cancelled. It is idempotent.
func (c *Conn) Close() error {
	c.closeConn()
	return nil
}

func (c *Conn) closeConn() {
	c.once.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		c.mu.pending = nil // waiters leave through c.done
		c.mu.Unlock()
		close(c.done)
		c.cancel()
		_ = c.nc.Close()
	})
}

// writable reports whether writes may still succeed: the connection is
// open and no write failed.
func (c *Conn) writable() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return !c.writeDead && !c.isClosed()
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WriteCommand sends cmd as it is, after filling an empty Language and a
// zero Version with the owner's settings. A failed write closes the
// connection, because a partial frame leaves the stream unusable. Frames
// with small bodies are copied and may go out after WriteCommand returns,
// in one write with others; an error then closes the connection, which
// fails pending invokes.
func (c *Conn) WriteCommand(cmd *Command) error {
	c.fillDefaults(cmd)
	c.wmu.Lock()
	if c.isClosed() || c.writeDead {
		c.wmu.Unlock()
		return ErrConnClosed
	}
	var body []byte // a large body, written from where it is
	if len(cmd.Body) > copyBodyMax {
		// Keep frames in order: wait for the writer, then write what is
		// queued, this header and the body in one writev.
		for c.writing {
			c.wcond.Wait()
		}
		body = cmd.Body
	}
	pend, err := appendFramePrefix(c.pend, cmd)
	if err != nil {
		c.wmu.Unlock()
		return fmt.Errorf("remoting: encode %v: %w", cmd, err)
	}
	if body == nil {
		pend = append(pend, cmd.Body...)
	}
	c.pend = pend
	return c.writeQueuedLocked(body)
}

// ReplyAll sends resps in order, as Reply does each, queueing them
// together so that they leave in one write (a SYNC_FLUSH acker answering
// the sends one fsync covered).
func (c *Conn) ReplyAll(resps []*Command) error {
	for _, r := range resps {
		if len(r.Body) > copyBodyMax {
			for _, r := range resps {
				if err := c.Reply(r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	c.wmu.Lock()
	if c.isClosed() || c.writeDead {
		c.wmu.Unlock()
		return ErrConnClosed
	}
	pend := c.pend
	var errs []error
	for _, r := range resps {
		r.Flag |= FlagResponse
		c.fillDefaults(r)
		next, err := appendFramePrefix(pend, r)
		if err != nil {
			// Only this reply is lost; the others still go.
			errs = append(errs, fmt.Errorf("remoting: encode %v: %w", r, err))
			continue
		}
		pend = append(next, r.Body...)
	}
	c.pend = pend
	errs = append(errs, c.writeQueuedLocked(nil))
	return errors.Join(errs...)
}

// fillDefaults gives cmd the owner's Language and Version when unset.
func (c *Conn) fillDefaults(cmd *Command) {
	if cmd.Language == "" {
		cmd.Language = c.ep.language
	}
	if cmd.Version == 0 {
		cmd.Version = c.ep.version
	}
}

// writeQueuedLocked writes what is queued (and body after it), unless a
// writer or the busy reader will.
// REQUIRES: c.wmu held; it is released.
func (c *Conn) writeQueuedLocked(body []byte) error {
	if body == nil && (c.writing || c.readerBusy) {
		// The writer picks it up after its current write, or the
		// reader before it next waits for input.
		c.wmu.Unlock()
		return nil
	}
	c.writing = true
	err := c.writeLoop(body)
	c.endWriteLocked()
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return fmt.Errorf("remoting: write to %s: %w", c.remote, err)
	}
	return nil
}

// writeFailed handles a failed write. A timeout means the peer stopped
// reading: the connection closes. Any other error means the peer is gone
// (it reset the connection): writes fail from now on, but the reader goes
// on with what the kernel already received and closes the connection at
// its end. A client that sends its last requests and closes at once (the
// Go client's final oneway offset commits, which it sends without the
// oneway flag and so gets replies to) resets the connection when the first
// reply reaches it; closing here would drop the requests not yet read.
func (c *Conn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.closeConn()
		return
	}
	c.wmu.Lock()
	c.writeDead = true
	c.pend = c.pend[:0]
	c.wmu.Unlock()
}

// idleFlusher is the reader's view of the socket: before each read that
// may block it writes the frames queued while the reader was busy and sets
// the read deadline.
type idleFlusher struct{ c *Conn }

func (r idleFlusher) Read(p []byte) (int, error) {
	c := r.c
	c.wmu.Lock()
	c.readerBusy = false
	// Replies queued for a peer that does not read them (ReplyNoWait's
	// writer is waiting for it) stop the reading of its requests, as a
	// reader writing them itself would be stopped: TCP then holds the
	// peer back instead of memory filling with its replies.
	for c.writing && len(c.pend) >= maxQueuedReplies && !c.isClosed() {
		c.wcond.Wait()
	}
	var err error
	if len(c.pend) > 0 && !c.writing {
		c.writing = true
		err = c.writeLoop(nil)
		c.endWriteLocked()
	}
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		if c.isClosed() {
			return 0, fmt.Errorf("remoting: write to %s: %w", c.remote, err)
		}
	}
	c.setReadDeadline()
	n, err := c.nc.Read(p)
	if n > 0 {
		c.wmu.Lock()
		c.readerBusy = true
		c.wmu.Unlock()
	}
	return n, err
}

// endWriteLocked gives up the writer's role and wakes whoever waits for
// it (a large body's writer, a reader held back, serve at the close).
// REQUIRES: c.wmu held.
func (c *Conn) endWriteLocked() {
	c.writing = false
	c.wcond.Broadcast()
}

// writeLoop writes pend (and body after it, the first time) until nothing
// is queued.
// REQUIRES: c.wmu held and c.writing set; it drops c.wmu around writes.
func (c *Conn) writeLoop(body []byte) error {
	for len(c.pend) > 0 || body != nil {
		buf := c.pend
		c.pend = c.spare[:0]
		c.spare = nil
		c.wmu.Unlock()
		if c.ep.writeTimeout > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.ep.writeTimeout))
		}
		var err error
		if body != nil {
			bufs := net.Buffers{buf, body}
			_, err = bufs.WriteTo(c.nc)
			body = nil
		} else {
			_, err = c.nc.Write(buf)
		}
		c.wmu.Lock()
		if cap(buf) <= keepWriteBuf {
			c.spare = buf[:0]
		}
		if err != nil {
			c.pend = c.pend[:0]
			return err
		}
	}
	return nil
}

// readDeadline is when a read starting at now gives up: the idle timeout
// between frames, the frame timeout inside one, and while draining the
// earlier of a short quiet period and the drain's end. The zero time means
// no deadline.
// REQUIRES: c.dmu held.
func (c *Conn) readDeadline(now time.Time) time.Time {
	d := c.ep.idleTimeout
	if c.inFrame.Load() {
		d = c.ep.frameTimeout
	}
	var dl time.Time
	if d > 0 {
		dl = now.Add(d)
	}
	if !c.drainEnd.IsZero() {
		q := now.Add(drainQuiet)
		if c.drainEnd.Before(q) {
			q = c.drainEnd
		}
		if dl.IsZero() || q.Before(dl) {
			dl = q
		}
	}
	return dl
}

// setReadDeadline sets the deadline of the next read (none set and none
// wanted, as on a client's connections, costs no call).
func (c *Conn) setReadDeadline() {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	dl := c.readDeadline(time.Now())
	if dl.IsZero() && !c.deadline {
		return
	}
	c.deadline = !dl.IsZero()
	_ = c.nc.SetReadDeadline(dl)
}

// startDrain makes the reader stop once the peer has sent nothing for
// drainQuiet, or at end; what it already sent is still read and served.
func (c *Conn) startDrain(end time.Time) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.drainEnd = end
	c.deadline = true
	_ = c.nc.SetReadDeadline(c.readDeadline(time.Now()))
}

// draining returns the end of the drain, or the zero time.
func (c *Conn) draining() time.Time {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.drainEnd
}

// ReaderWaits is called by an inline handler about to block (a
// SYNC_FLUSH send waiting for its fsync) when no further request is
// buffered: replies queued while the reader was busy go out now, and
// replies from other goroutines are written at once instead of waiting
// for the reader to finish.
func (c *Conn) ReaderWaits() {
	c.wmu.Lock()
	c.readerBusy = false
	_ = c.writeQueuedLocked(nil) // a failed write closes the connection
}

// HandlersRunning is the number of handler goroutines running for the
// connection's requests (handlers registered with Handle; inline ones run
// on the reader and are not counted).
func (c *Conn) HandlersRunning() int64 { return c.inflight.Load() }

// InputBuffered reports whether bytes of further requests already sit in
// the connection's read buffer. Only an inline handler (HandleInline) may
// call it: it runs on the reader, the buffer's only user. A handler that
// would block (a SYNC_FLUSH send waiting for its fsync) can wait in place
// when nothing is queued behind it, and hand the wait off when something is.
func (c *Conn) InputBuffered() bool { return c.br != nil && c.br.Buffered() > 0 }

// Reply sends resp, a response built with NewResponse, possibly long after
// the handler returned nil. The response flag is forced on.
func (c *Conn) Reply(resp *Command) error {
	resp.Flag |= FlagResponse
	return c.WriteCommand(resp)
}

// Invoke sends req with a fresh opaque and waits for the response with that
// opaque, until ctx ends or the connection closes. It overwrites
// req.Opaque and clears the response and oneway flags.
func (c *Conn) Invoke(ctx context.Context, req *Command) (*Command, error) {
	req.Opaque = nextOpaque.Add(1)
	req.Flag &^= FlagResponse | FlagOneway
	if c.ep.sign != nil {
		c.ep.sign(req)
	}
	ch := make(chan *Command, 1)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("remoting: invoke code %d on %s: %w", req.Code, c.remote, ErrConnClosed)
	}
	c.mu.pending[req.Opaque] = ch
	c.mu.Unlock()

	if err := c.WriteCommand(req); err != nil {
		c.forget(req.Opaque)
		return nil, fmt.Errorf("remoting: invoke code %d: %w", req.Code, err)
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		c.forget(req.Opaque)
		return nil, fmt.Errorf("remoting: invoke code %d on %s: %w", req.Code, c.remote, ctx.Err())
	case <-c.done:
		select {
		case resp := <-ch: // it arrived just before the close
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("remoting: invoke code %d on %s: %w", req.Code, c.remote, ErrConnClosed)
	}
}

// InvokeOneway sends req with a fresh opaque and the oneway flag; no reply
// is expected.
func (c *Conn) InvokeOneway(req *Command) error {
	req.Opaque = nextOpaque.Add(1)
	req.Flag = req.Flag&^FlagResponse | FlagOneway
	if c.ep.sign != nil {
		c.ep.sign(req)
	}
	return c.WriteCommand(req)
}

func (c *Conn) forget(opaque int32) {
	c.mu.Lock()
	delete(c.mu.pending, opaque)
	c.mu.Unlock()
}

// serve is the reader goroutine. REQUIRES: ep.wg.Add(1) done by the caller.
func (c *Conn) serve(onConnect, onClose func(*Conn)) {
	defer c.ep.wg.Done()
	if onConnect != nil {
		onConnect(c)
	}
	err := c.readLoop()
	end := c.draining()
	if !end.IsZero() {
		c.awaitHandlers(end)
	}
	close(c.readDone)
	var ne net.Error
	if !end.IsZero() && errors.As(err, &ne) && ne.Timeout() {
		// Drained: the owner may still answer on it (held pulls) and
		// closes it in Close.
		<-c.done
	}
	c.logClose(err, c.isClosed()) // before closing, so the line precedes the peer's EOF
	c.closeConn()
	// A writer ReplyNoWait left behind fails fast on the closed socket;
	// the reader's own count in wg covers it.
	c.wmu.Lock()
	for c.writing {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
	if onClose != nil {
		onClose(c)
	}
}

func (c *Conn) readLoop() (err error) {
	defer func() {
		// Decoding is written not to panic; this keeps a bug from taking
		// the process down with it.
		if r := recover(); r != nil {
			c.ep.log.Error("remoting: reader panic", "remote", c.remote, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("remoting: reader panic: %v", r)
		}
	}()
	c.br = bufio.NewReaderSize(idleFlusher{c}, readBufferSize)
	fr := NewFrameReader(c.br)
	for first := true; ; first = false {
		// Between frames the peer may be idle; once a byte of the next
		// frame is here, the rest must not stall (idleFlusher.Read).
		c.inFrame.Store(false)
		b, err := c.br.Peek(1)
		if err != nil {
			return err
		}
		if first && c.ep.server && b[0] == tlsHandshakeRecord {
			// A TLS client on a plaintext port: its ClientHello read
			// as a frame length would be "frame too large".
			if _, ok := c.nc.(*tls.Conn); !ok {
				return errTLSOnPlaintext
			}
		}
		c.inFrame.Store(true)
		cmd, err := fr.ReadCommand()
		if err != nil {
			return err
		}
		if cmd.IsResponse() {
			c.deliver(cmd)
			continue
		}
		c.dispatch(cmd)
	}
}

// awaitHandlers waits, until end at the latest, for the handler goroutines
// of requests already read, so their replies go out before the close.
func (c *Conn) awaitHandlers(end time.Time) {
	for c.inflight.Load() > 0 && time.Now().Before(end) && !c.isClosed() {
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Conn) logClose(err error, byUs bool) {
	log := c.ep.log
	attrs := []any{"remote", c.remote, "conn", c.id}
	var ne net.Error
	switch {
	case byUs || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Debug("remoting: connection closed", attrs...)
	case errors.Is(err, errTLSOnPlaintext):
		if ok, dropped := c.ep.tlsLog.Allow(time.Second); ok {
			log.Warn("remoting: TLS handshake on a plaintext port; closing (serve TLS with tls.server.mode=permissive or enforcing)",
				append(attrs, "not_logged_since_last", dropped)...)
		}
	case errors.Is(err, ErrBadFrame), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrBadHeader):
		if c.ep.server {
			log.Warn("remoting: closing connection after bad frame", append(attrs, "err", err)...)
		} else if ok, dropped := c.ep.badFrames.Allow(c.remote, badFrameLogEvery); ok {
			log.Warn("remoting: closing connection after bad frame (is this address a RocketMQ remoting port?)",
				append(attrs, "err", err, "not_logged_since_last", dropped)...)
		}
	case errors.As(err, &ne) && ne.Timeout() && c.inFrame.Load():
		log.Warn("remoting: closing connection silent inside a frame", append(attrs, "silent", c.ep.frameTimeout)...)
	case errors.As(err, &ne) && ne.Timeout():
		log.Info("remoting: closing idle connection", append(attrs, "idle", c.ep.idleTimeout)...)
	default:
		log.Info("remoting: connection closed", append(attrs, "err", err)...)
	}
}

func (c *Conn) deliver(resp *Command) {
	c.mu.Lock()
	ch, ok := c.mu.pending[resp.Opaque]
	if ok {
		delete(c.mu.pending, resp.Opaque)
	}
	c.mu.Unlock()
	if !ok {
		// Late reply after a timeout, or a reply to a oneway request.
		c.ep.log.Debug("remoting: response for unknown opaque", "remote", c.remote, "opaque", resp.Opaque, "code", resp.Code)
		return
	}
	ch <- resp // buffered, never blocks
}

// dispatch starts a goroutine for req, or refuses it: when the owner's
// Authorize hook does (ACL), or when the connection already has
// maxInflight handlers running (Java's thread-pool rejection).
func (c *Conn) dispatch(req *Command) {
	if c.ep.authorize != nil {
		if resp := c.ep.authorize(c, req); resp != nil {
			if !req.IsOneway() {
				resp.Opaque, resp.Flag, resp.SerializeType = req.Opaque, resp.Flag|FlagResponse, req.SerializeType
				_ = c.WriteCommand(resp) // a failed write closes the connection
			}
			return
		}
	}
	if c.ep.maxInflight > 0 && c.inflight.Load() >= c.ep.maxInflight {
		if !req.IsOneway() {
			resp := NewResponse(req, RespSystemBusy, "too many requests in flight on this connection")
			_ = c.WriteCommand(resp)
		}
		return
	}
	// The reader goroutine is itself counted in wg, so this Add cannot race
	// with a Wait that has already seen zero.
	c.ep.wg.Add(1)
	h, inline := c.ep.handler(req.Code)
	if inline {
		c.runHandler(h, req) // on the reader: no goroutine to count
		return
	}
	c.inflight.Add(1)
	go c.runCounted(h, req)
}

// runCounted runs a handler in its own goroutine, counted in inflight.
func (c *Conn) runCounted(h Handler, req *Command) {
	defer c.inflight.Add(-1)
	c.runHandler(h, req)
}

func (c *Conn) runHandler(h Handler, req *Command) {
	defer c.ep.wg.Done()
	resp := c.callHandler(h, req)
	if resp == nil || req.IsOneway() {
		return
	}
	resp.Opaque = req.Opaque
	resp.Flag |= FlagResponse
	resp.SerializeType = req.SerializeType
	if err := c.WriteCommand(resp); err != nil {
		c.ep.log.Debug("remoting: reply not sent", "remote", c.remote, "code", req.Code, "err", err)
	}
}

func (c *Conn) callHandler(h Handler, req *Command) (resp *Command) {
	if h == nil {
		return NewResponse(req, RespRequestCodeNotSupported, fmt.Sprintf("request code %d not supported", req.Code))
	}
	defer func() {
		if r := recover(); r != nil {
			c.ep.log.Error("remoting: handler panic", "remote", c.remote, "code", req.Code,
				"panic", r, "stack", string(debug.Stack()))
			// The remark is one short line: a panic value can span lines
			// (Pebble's corruption panic carried its stack trace), and
			// the detail is in the log above.
			resp = NewResponse(req, RespSystemError, fmt.Sprintf("internal error serving request code %d: %s (see the broker log)",
				req.Code, panicLine(r)))
		}
	}()
	return h(c.ctx, c, req)
}

// maxPanicRemark bounds the panic text a client's remark carries.
const maxPanicRemark = 200

// panicLine is the first line of a panic value, at most maxPanicRemark
// bytes.
func panicLine(r any) string {
	s, _, cut := strings.Cut(fmt.Sprint(r), "\n")
	s = strings.TrimSpace(s)
	if len(s) > maxPanicRemark {
		s, cut = strings.ToValidUTF8(s[:maxPanicRemark], ""), true
	}
	if cut {
		s += " ..."
	}
	return s
}
