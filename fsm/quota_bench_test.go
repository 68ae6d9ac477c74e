package fsm

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/logentry"
)

// benchFSM opens an FSM in a temporary dir and returns a function that
// applies one log entry of the given commands.
func benchFSM(b *testing.B) func(cmds ...*fsmpb.Command) {
	cfg := DefaultConfig(b.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	index := uint64(0)
	return func(cmds ...*fsmpb.Command) {
		e := logentry.Entry{Stamp: int64(index + 1)}
		for _, c := range cmds {
			raw, _ := proto.Marshal(c)
			e.Commands = append(e.Commands, raw)
		}
		index++
		f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: logentry.Encode(e)}})
	}
}

// BenchmarkApplyKVPut applies entries of 64 KV puts each, without and with
// a quota on the tenant: the cost of the quota check per command.
func BenchmarkApplyKVPut(b *testing.B) {
	for _, withQuota := range []bool{false, true} {
		b.Run(fmt.Sprintf("quota=%v", withQuota), func(b *testing.B) {
			apply := benchFSM(b)
			apply(createCmd(flowmesh.KindKV, "kv"))
			if withQuota {
				apply(quotaCmd("t", false, &fsmpb.QuotaLimits{StoredBytes: proto.Int64(1 << 40), KvKeys: proto.Int64(1 << 40)}))
			}
			cmds := make([]*fsmpb.Command, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range cmds {
					cmds[j] = &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", (i*64+j)%10000), Value: make([]byte, 100)}}}
				}
				apply(cmds...)
			}
		})
	}
}

// BenchmarkApplyEnqueue applies entries of 64 enqueues of 256 bytes into
// one queue (the side-by-side queue workload), beside KV puts of the same
// size: what the FSM spends per command of each kind.
func BenchmarkApplyEnqueue(b *testing.B) {
	for _, kind := range []string{"enqueue", "kv-put"} {
		b.Run(kind, func(b *testing.B) {
			apply := benchFSM(b)
			apply(createCmd(flowmesh.KindKV, "kv"))
			apply(createCmd(flowmesh.KindQueue, "q"))
			val := make([]byte, 256)
			cmds := make([]*fsmpb.Command, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range cmds {
					if kind == "enqueue" {
						cmds[j] = &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: val}}}
					} else {
						cmds[j] = &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", (i*64+j)%10000), Value: val}}}
					}
				}
				apply(cmds...)
			}
		})
	}
}
