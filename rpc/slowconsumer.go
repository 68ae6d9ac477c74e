package rpc

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
)

// DefaultSlowConsumerTimeout is how long a Subscribe or Watch may take
// nothing of what the node has ready for it before the node ends it with
// a *flowmesh.SlowConsumerError (Config.SlowConsumerTimeout).
const DefaultSlowConsumerTimeout = 30 * time.Second

// StreamBufferBytes bounds what a Subscribe or Watch holds ready for its
// client beyond the node's read batch: the messages queued for the
// sender and the one it is sending (one message larger than this is
// admitted alone).
const StreamBufferBytes = 64 << 10

// streamSender sends a server stream's messages on a goroutine of its own,
// fed by a buffer of at most StreamBufferBytes, so the handler never blocks
// in Send: when the buffer stays full for the timeout (the client took
// nothing meanwhile), put fails with a *flowmesh.SlowConsumerError and the
// handler returns it.
//
// The sender may then still be blocked in Send, which gRPC says must not be
// called after the handler returned. It was called before, and grpc-go
// (v1.85, internal/transport http2_server.go) ends it: returning from the
// handler writes the status (finishStream), which cancels the transport
// stream; Send waits for flow-control quota on that stream's done channel
// (writeQuota.get), so it returns an error, and its own WriteStatus on a
// stream already done is a no-op. A data frame queued after the trailer is
// dropped by loopy (no such stream). The sender never starts a Send once
// closed is set, and the Server waits for it on Stop.
type streamSender struct {
	kind    string // "subscriber" or "watcher"
	send    func(proto.Message) error
	timeout time.Duration

	mu     sync.Mutex
	queue  []sendItem
	bytes  int    // queued plus in flight
	sent   uint64 // resume position after the last message sent
	err    error  // Send's error, once it failed
	closed bool

	ready chan struct{} // cap 1: an item was queued, or closed
	space chan struct{} // cap 1: the sender finished a Send
}

type sendItem struct {
	msg  proto.Message
	size int
	next uint64 // resume position once msg is sent
}

// newStreamSender starts the sender goroutine on wg; from is the resume
// position before any message was sent.
func newStreamSender(wg *sync.WaitGroup, ctx context.Context, kind string, from uint64, timeout time.Duration, send func(proto.Message) error) *streamSender {
	s := &streamSender{kind: kind, send: send, timeout: timeout, sent: from,
		ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	wg.Go(func() { s.run(ctx) })
	return s
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *streamSender) run(ctx context.Context) {
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.mu.Unlock()
			select {
			case <-s.ready:
			case <-ctx.Done():
				return
			}
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		it := s.queue[0]
		s.queue[0] = sendItem{}
		s.queue = s.queue[1:]
		s.mu.Unlock()

		err := s.send(it.msg)

		s.mu.Lock()
		s.bytes -= it.size
		if err != nil {
			s.err = err
		} else {
			s.sent = it.next
		}
		s.mu.Unlock()
		notify(s.space)
		if err != nil {
			return
		}
	}
}

// put queues msg, whose sending moves the resume position to next. It
// waits while the buffer is full, and fails when the sender took nothing
// for the timeout, when Send failed, or when ctx ends.
func (s *streamSender) put(ctx context.Context, msg proto.Message, next uint64) error {
	size := proto.Size(msg)
	return s.wait(ctx, func() bool {
		if s.bytes > 0 && s.bytes+size > StreamBufferBytes {
			return false
		}
		s.queue = append(s.queue, sendItem{msg: msg, size: size, next: next})
		s.bytes += size
		notify(s.ready)
		return true
	})
}

// flush waits until every queued message was sent, on the same terms as put.
func (s *streamSender) flush(ctx context.Context) error {
	return s.wait(ctx, func() bool { return s.bytes == 0 })
}

// wait calls try (under mu) until it reports done, resetting the timeout
// whenever the sender makes progress.
func (s *streamSender) wait(ctx context.Context, try func() bool) error {
	var timer *time.Timer
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		ok := try()
		s.mu.Unlock()
		if ok {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(s.timeout)
			defer timer.Stop()
		}
		select {
		case <-s.space:
			timer.Reset(s.timeout)
		case <-timer.C:
			s.mu.Lock()
			resume := s.sent
			s.mu.Unlock()
			return &flowmesh.SlowConsumerError{Stream: s.kind, ResumeFrom: resume, Timeout: s.timeout}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops the sender before its next Send; it does not wait for the
// one in progress (see streamSender).
func (s *streamSender) close() {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	notify(s.ready)
}

// admitStream takes a slot of c for path's tenant, or says which cap is full.
func admitStream(c *streamCap, path string) (release func(), err error) {
	tenant, _, _, err := flowmesh.ParsePath(path)
	if err != nil {
		return nil, err
	}
	return c.acquire(tenant)
}

// serveStream runs a Subscribe or Watch admitted under c: it starts a
// sender at resume position from, lets run feed it with put, sends what is
// queued when run returns, and returns run's error (or the sender's).
func (s *Server) serveStream(ctx context.Context, c *streamCap, kind string, from uint64, send func(proto.Message) error,
	run func(put func(msg proto.Message, next uint64) error) error) error {
	snd := newStreamSender(&s.senders, ctx, kind, from, s.cfg.SlowConsumerTimeout, send)
	defer snd.close()
	err := run(func(msg proto.Message, next uint64) error { return snd.put(ctx, msg, next) })
	if !isSlow(err) { // a cut off one has waited for the sender already
		if ferr := snd.flush(ctx); err == nil || isSlow(ferr) {
			err = ferr
		}
	}
	if isSlow(err) {
		c.cutOff()
	}
	return err
}

func isSlow(err error) bool {
	_, ok := err.(*flowmesh.SlowConsumerError)
	return ok
}
