package cluster

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// encodeRPC frames req as raft's NetworkTransport does: a type byte, then
// the request in msgpack with the handle raft uses.
func encodeRPC(t testing.TB, buf *bytes.Buffer, typ byte, req any) {
	t.Helper()
	buf.WriteByte(typ)
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	if err := codec.NewEncoder(buf, h).Encode(req); err != nil {
		t.Fatal(err)
	}
}

func testScanner(maxBytes, maxValues int64) *frameScanner {
	return &frameScanner{maxBytes: maxBytes, maxValues: maxValues}
}

// TestFrameScannerFollowsRaft feeds the scanner a stream of real raft
// requests, an InstallSnapshot with its body among them, in random-sized
// reads, and checks it finds every request boundary.
func TestFrameScannerFollowsRaft(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	var buf bytes.Buffer
	var ends []int
	entries := make([]*raft.Log, 20)
	for i := range entries {
		data := make([]byte, rng.IntN(4096))
		entries[i] = &raft.Log{Index: uint64(i + 1), Term: 3, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
	}
	encodeRPC(t, &buf, 0, &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n1"), Addr: []byte("127.0.0.1:1")}, Term: 3, Entries: entries, LeaderCommitIndex: 7})
	ends = append(ends, buf.Len())
	encodeRPC(t, &buf, 1, &raft.RequestVoteRequest{Term: 4, LastLogIndex: 20})
	ends = append(ends, buf.Len())
	body := make([]byte, 100_000)
	encodeRPC(t, &buf, 2, &raft.InstallSnapshotRequest{Term: 4, Size: int64(len(body)), Configuration: []byte("cfg"), LastLogIndex: 9})
	buf.Write(body)
	ends = append(ends, buf.Len())
	encodeRPC(t, &buf, 2, &raft.InstallSnapshotRequest{Term: 4, Size: 0})
	ends = append(ends, buf.Len())
	encodeRPC(t, &buf, 0, &raft.AppendEntriesRequest{Term: 5})
	ends = append(ends, buf.Len())
	encodeRPC(t, &buf, 3, &raft.TimeoutNowRequest{})
	ends = append(ends, buf.Len())

	s := testScanner(1<<20, 1<<16)
	b := buf.Bytes()
	// Every request boundary must leave the scanner between requests.
	for pos, next := 0, 0; pos < len(b); {
		n := 1 + rng.IntN(300)
		if next < len(ends) && pos+n >= ends[next] {
			n = ends[next] - pos
			next++
			if err := s.scan(b[pos : pos+n]); err != nil {
				t.Fatalf("at %d: %v", pos, err)
			}
			pos += n
			if !s.betweenRequests() {
				t.Fatalf("not between requests at the end of request %d (byte %d), state %d", next, pos, s.state)
			}
			continue
		}
		if err := s.scan(b[pos : pos+n]); err != nil {
			t.Fatalf("at %d: %v", pos, err)
		}
		pos += n
		if s.betweenRequests() {
			t.Fatalf("between requests at byte %d, inside request %d", pos, next+1)
		}
	}
}

func TestFrameScannerRefuses(t *testing.T) {
	var big bytes.Buffer
	encodeRPC(t, &big, 0, &raft.AppendEntriesRequest{Entries: []*raft.Log{{Data: make([]byte, 5000)}}})
	var many bytes.Buffer
	logs := make([]*raft.Log, 200)
	for i := range logs {
		logs[i] = &raft.Log{Index: uint64(i)}
	}
	encodeRPC(t, &many, 0, &raft.AppendEntriesRequest{Entries: logs})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"unknown type", []byte{9}, ErrRaftMessageMalformed},
		{"unused byte", []byte{0, 0xc1}, ErrRaftMessageMalformed},
		{"declared bin over the limit", []byte{0, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0xc6, 0x20, 0, 0, 0}, ErrRaftMessageTooLarge},
		{"declared array over the values", []byte{0, 0xdd, 0x40, 0, 0, 0}, ErrRaftMessageTooLarge},
		{"declared map over the values", []byte{0, 0xdf, 0x00, 0x10, 0, 0}, ErrRaftMessageTooLarge},
		{"nesting", bytes.Repeat([]byte{0x91}, 40), ErrRaftMessageMalformed},
		{"snapshot without Size", []byte{2, 0x80}, ErrRaftMessageMalformed},
		{"snapshot with a negative Size", []byte{2, 0x81, 0xa4, 'S', 'i', 'z', 'e', 0xff}, ErrRaftMessageMalformed},
		{"real request over the bytes", big.Bytes(), ErrRaftMessageTooLarge},
		{"real request over the values", many.Bytes(), ErrRaftMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testScanner(4096, 1000)
			err := s.scan(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("scan = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFrameScannerRefusesLongField(t *testing.T) {
	s := testScanner(64<<20, 1000)
	in := []byte{0, 0x81, 0xa7, 'E', 'n', 't', 'r', 'i', 'e', 's', 0x91, 0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0, 0x09, 0, 0} // 576 KiB
	if err := s.scan(in); err != nil {
		t.Fatalf("a field of maxFieldBytes: %v", err)
	}
	s = testScanner(64<<20, 1000)
	in[len(in)-1] = 1
	if err := s.scan(in); !errors.Is(err, ErrRaftMessageTooLarge) {
		t.Fatalf("a field over maxFieldBytes: %v", err)
	}
}

// TestFrameScannerInflight charges the shared budget with a request's bytes
// and values while it is read, and releases it when the next one starts.
func TestFrameScannerInflight(t *testing.T) {
	b := &raftBudget{lim: RaftLimits{MaxInflightBytes: 1000}}
	s1 := &frameScanner{maxBytes: 4096, maxValues: 1000, charge: b.charge}
	s2 := &frameScanner{maxBytes: 4096, maxValues: 1000, charge: b.charge}
	hdr := []byte{0, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0xc5, 0x02, 0x00} // bin16 of 512 bytes
	if err := s1.scan(append(hdr, make([]byte, 500)...)); err != nil {
		t.Fatal(err)
	}
	if got, want := b.inflight.Load(), int64(510+3*valueCharge); got != want {
		t.Fatalf("inflight %d, want %d (bytes and 3 values)", got, want)
	}
	if err := s2.scan(append(hdr, make([]byte, 500)...)); !errors.Is(err, ErrRaftMessageTooLarge) {
		t.Fatalf("second request over the shared budget: %v", err)
	}
	if err := s1.scan(make([]byte, 12)); err != nil { // the rest, then a new request
		t.Fatal(err)
	}
	if got, want := b.inflight.Load(), int64(522+3*valueCharge); got != want {
		t.Fatalf("inflight %d, want %d", got, want)
	}
	if err := s1.scan([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if got := b.inflight.Load(); got != 1 {
		t.Fatalf("inflight %d after the next request started, want 1", got)
	}
	s1.release()
	if got := b.inflight.Load(); got != 0 {
		t.Fatalf("inflight %d after release, want 0", got)
	}
}

// FuzzFrameScanner: any bytes, read whole or split anywhere, give the same
// verdict and leave the scanner in the same place, without a panic.
func FuzzFrameScanner(f *testing.F) {
	var buf bytes.Buffer
	encodeRPC(f, &buf, 0, &raft.AppendEntriesRequest{Term: 2, Entries: []*raft.Log{{Index: 1, Data: []byte("x"), AppendedAt: time.Unix(1, 0)}}})
	f.Add(buf.Bytes(), uint(3))
	buf.Reset()
	encodeRPC(f, &buf, 2, &raft.InstallSnapshotRequest{Size: 3})
	buf.WriteString("abc")
	f.Add(buf.Bytes(), uint(7))
	f.Add([]byte{0, 0xdf, 0xff, 0xff, 0xff, 0xff}, uint(2))
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		whole := testScanner(1<<16, 1<<12)
		errWhole := whole.scan(in)
		split := testScanner(1<<16, 1<<12)
		k := int(cut % uint(len(in)+1))
		errSplit := split.scan(in[:k])
		if errSplit == nil {
			errSplit = split.scan(in[k:])
		}
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v; split at %d: %v", errWhole, k, errSplit)
		}
		if errWhole == nil && (whole.state != split.state || whole.bytes != split.bytes || whole.skip != split.skip || len(whole.stack) != len(split.stack)) {
			t.Fatalf("whole and split at %d disagree: state %d/%d bytes %d/%d", k, whole.state, split.state, whole.bytes, split.bytes)
		}
	})
}
