package rpc

import (
	"context"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
)

// A request that does not decode (malformed protobuf, a string field that
// is not UTF-8: then the field is named, as flowmesh's checks name it) is
// the caller's mistake, but gRPC reports a failed decode as
// Internal, and before any interceptor runs. So the server's codec records
// the decode error against the message instead of failing, and
// checkDecodedUnary/decodeCheckedStream turn it into InvalidArgument before
// a handler sees the message. Every message the codec decodes passes
// through one of them, which removes its record.
type requestCodec struct {
	encoding.CodecV2
	failed sync.Map // proto.Message (pointer) -> error
}

func newRequestCodec() *requestCodec {
	return &requestCodec{CodecV2: encoding.GetCodecV2("proto")}
}

func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	c.decode(buf.ReadOnlyData(), m)
	return nil
}

// unmarshalBytes decodes a call's request carried on the pipe (pipe.go)
// as Unmarshal decodes one from the wire.
func (c *requestCodec) unmarshalBytes(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rpc: decode: %T is not a protobuf message", v)
	}
	c.decode(b, m)
	return nil
}

// decode decodes b into m, recording a failure against m.
func (c *requestCodec) decode(b []byte, m proto.Message) {
	if err := proto.Unmarshal(b, m); err != nil {
		proto.Reset(m)
		if f, ok := invalidUTF8Field(m.ProtoReflect().Descriptor(), b); ok {
			err = flowmesh.Invalid(f, "must be valid UTF-8")
		}
		c.failed.Store(m, err)
	}
}

// decodeError returns (and forgets) the decode error recorded for m.
func (c *requestCodec) decodeError(m any) error {
	v, ok := c.failed.LoadAndDelete(m)
	if !ok {
		return nil
	}
	if err, ok := v.(*flowmesh.InvalidArgumentError); ok {
		return err // a string field that is not UTF-8, named as the root's checks name it
	}
	return flowmesh.Invalid("request", "%s", boundedMessage(fmt.Sprint(v), 200))
}

func (c *requestCodec) checkDecodedUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.decodeError(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (c *requestCodec) checkDecodedStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &decodeCheckedStream{ServerStream: ss, codec: c})
}

// decodeCheckedStream fails RecvMsg for a message that did not decode.
type decodeCheckedStream struct {
	grpc.ServerStream
	codec *requestCodec
}

func (s *decodeCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.codec.decodeError(m)
}

// boundedMessage cuts s to at most n bytes (on a rune boundary), so an
// error never repeats more than a bounded prefix of what a client sent.
func boundedMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
