package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// KVEntry converts a key's value.
func KVEntry(e flowmesh.KVEntry) *pb.KVEntry {
	return &pb.KVEntry{
		Key:            e.Key,
		Value:          e.Value,
		Revision:       e.Revision,
		CreateRevision: e.CreateRevision,
		ExpireTime:     Time(e.ExpiresAt),
	}
}

// FromKVEntry converts it back; nil is the zero entry.
func FromKVEntry(p *pb.KVEntry) flowmesh.KVEntry {
	return flowmesh.KVEntry{
		Key:            p.GetKey(),
		Value:          p.GetValue(),
		Revision:       p.GetRevision(),
		CreateRevision: p.GetCreateRevision(),
		ExpiresAt:      FromTime(p.GetExpireTime()),
	}
}

// FromKVEntries converts a listing back.
func FromKVEntries(ps []*pb.KVEntry) []flowmesh.KVEntry {
	out := make([]flowmesh.KVEntry, len(ps))
	for i, p := range ps {
		out[i] = FromKVEntry(p)
	}
	return out
}

// KVEvent converts one change.
func KVEvent(e flowmesh.KVEvent) *pb.KVEvent {
	return &pb.KVEvent{Type: pb.KVEventType(e.Type), Key: e.Key, Value: e.Value, Revision: e.Revision}
}

// FromKVEvent converts it back; nil is the zero event.
func FromKVEvent(p *pb.KVEvent) flowmesh.KVEvent {
	return flowmesh.KVEvent{
		Type:     flowmesh.KVEventType(p.GetType()),
		Key:      p.GetKey(),
		Value:    p.GetValue(),
		Revision: p.GetRevision(),
	}
}
