package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// StreamEvents converts a batch to append.
func StreamEvents(evs []flowmesh.StreamEvent) []*pb.StreamEvent {
	out := make([]*pb.StreamEvent, len(evs))
	for i, e := range evs {
		out[i] = &pb.StreamEvent{Payload: e.Payload, Headers: e.Headers, Key: bytesOf(e.Key), Partition: int32(e.Partition)}
	}
	return out
}

// FromStreamEvents converts a batch back; nil elements become zero events.
func FromStreamEvents(ps []*pb.StreamEvent) []flowmesh.StreamEvent {
	out := make([]flowmesh.StreamEvent, len(ps))
	for i, p := range ps {
		out[i] = flowmesh.StreamEvent{
			Payload:   p.GetPayload(),
			Headers:   p.GetHeaders(),
			Key:       string(p.GetKey()),
			Partition: int(p.GetPartition()),
		}
	}
	return out
}

// Positions converts the result of WriteEvents.
func Positions(ps []flowmesh.Position) []*pb.Position {
	out := make([]*pb.Position, len(ps))
	for i, p := range ps {
		out[i] = &pb.Position{Partition: int32(p.Partition), Offset: p.Offset}
	}
	return out
}

// FromPositions converts positions back.
func FromPositions(ps []*pb.Position) []flowmesh.Position {
	out := make([]flowmesh.Position, len(ps))
	for i, p := range ps {
		out[i] = flowmesh.Position{Partition: int(p.GetPartition()), Offset: p.GetOffset()}
	}
	return out
}

// Message converts one read message.
func Message(m flowmesh.Message) *pb.Message {
	return &pb.Message{
		Partition: int32(m.Partition),
		Offset:    m.Offset,
		Timestamp: Time(m.Timestamp),
		Key:       bytesOf(m.Key),
		Payload:   m.Payload,
		Headers:   m.Headers,
	}
}

// FromMessage converts a message back; nil is the zero message.
func FromMessage(p *pb.Message) flowmesh.Message {
	return flowmesh.Message{
		Partition: int(p.GetPartition()),
		Offset:    p.GetOffset(),
		Timestamp: FromTime(p.GetTimestamp()),
		Key:       string(p.GetKey()),
		Payload:   p.GetPayload(),
		Headers:   p.GetHeaders(),
	}
}

// FromMessages converts a slice of messages back.
func FromMessages(ps []*pb.Message) []flowmesh.Message {
	out := make([]flowmesh.Message, len(ps))
	for i, p := range ps {
		out[i] = FromMessage(p)
	}
	return out
}

// PartitionInfo converts a partition's range.
func PartitionInfo(pi flowmesh.PartitionInfo) *pb.PartitionInfo {
	return &pb.PartitionInfo{Partition: int32(pi.Partition), Earliest: pi.Earliest, Next: pi.Next, Bytes: pi.Bytes}
}

// FromPartitionInfo converts it back; nil is the zero value.
func FromPartitionInfo(p *pb.PartitionInfo) flowmesh.PartitionInfo {
	return flowmesh.PartitionInfo{
		Partition: int(p.GetPartition()),
		Earliest:  p.GetEarliest(),
		Next:      p.GetNext(),
		Bytes:     p.GetBytes(),
	}
}

// bytesOf returns s as bytes; "" becomes nil so an unset key stays unset.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
