package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// StreamConfig converts c; nil stays nil.
func StreamConfig(c *flowmesh.StreamConfig) *pb.StreamConfig {
	if c == nil {
		return nil
	}
	return &pb.StreamConfig{Partitions: int32(c.Partitions), MaxAge: Duration(c.MaxAge), MaxBytes: c.MaxBytes}
}

// FromStreamConfig converts p; nil is the zero config.
func FromStreamConfig(p *pb.StreamConfig) flowmesh.StreamConfig {
	return flowmesh.StreamConfig{
		Partitions: int(p.GetPartitions()),
		MaxAge:     FromDuration(p.GetMaxAge()),
		MaxBytes:   p.GetMaxBytes(),
	}
}

// QueueConfig converts c; nil stays nil.
func QueueConfig(c *flowmesh.QueueConfig) *pb.QueueConfig {
	if c == nil {
		return nil
	}
	return &pb.QueueConfig{
		VisibilityTimeout: Duration(c.VisibilityTimeout),
		MaxAttempts:       int32(c.MaxAttempts),
		DeadLetterQueue:   c.DeadLetterQueue,
		MaxPayload:        int32(c.MaxPayload),
	}
}

// FromQueueConfig converts p; nil is the zero config.
func FromQueueConfig(p *pb.QueueConfig) flowmesh.QueueConfig {
	return flowmesh.QueueConfig{
		VisibilityTimeout: FromDuration(p.GetVisibilityTimeout()),
		MaxAttempts:       int(p.GetMaxAttempts()),
		DeadLetterQueue:   p.GetDeadLetterQueue(),
		MaxPayload:        int(p.GetMaxPayload()),
	}
}

// KVConfig converts c; nil stays nil.
func KVConfig(c *flowmesh.KVConfig) *pb.KVConfig {
	if c == nil {
		return nil
	}
	return &pb.KVConfig{HistoryRevisions: int32(c.HistoryRevisions)}
}

// FromKVConfig converts p; nil is the zero config.
func FromKVConfig(p *pb.KVConfig) flowmesh.KVConfig {
	return flowmesh.KVConfig{HistoryRevisions: int(p.GetHistoryRevisions())}
}

// Resource converts r; nil stays nil.
func Resource(r *flowmesh.Resource) *pb.Resource {
	if r == nil {
		return nil
	}
	p := &pb.Resource{
		Tenant:     r.Tenant,
		Namespace:  r.Namespace,
		Name:       r.Name,
		Kind:       pb.Kind(r.Kind),
		CreateTime: Time(r.CreatedAt),
		Revision:   r.Revision,
	}
	switch {
	case r.Stream != nil:
		p.Config = &pb.Resource_Stream{Stream: StreamConfig(r.Stream)}
	case r.Queue != nil:
		p.Config = &pb.Resource_Queue{Queue: QueueConfig(r.Queue)}
	case r.KV != nil:
		p.Config = &pb.Resource_Kv{Kv: KVConfig(r.KV)}
	}
	return p
}

// FromResource converts p; nil stays nil.
func FromResource(p *pb.Resource) *flowmesh.Resource {
	if p == nil {
		return nil
	}
	r := &flowmesh.Resource{
		Tenant:    p.GetTenant(),
		Namespace: p.GetNamespace(),
		Name:      p.GetName(),
		Kind:      flowmesh.Kind(p.GetKind()),
		CreatedAt: FromTime(p.GetCreateTime()),
		Revision:  p.GetRevision(),
	}
	switch c := p.GetConfig().(type) {
	case *pb.Resource_Stream:
		sc := FromStreamConfig(c.Stream)
		r.Stream = &sc
	case *pb.Resource_Queue:
		qc := FromQueueConfig(c.Queue)
		r.Queue = &qc
	case *pb.Resource_Kv:
		kc := FromKVConfig(c.Kv)
		r.KV = &kc
	}
	return r
}
