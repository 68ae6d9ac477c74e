package history

import (
	"encoding/json"
	"time"
)

// Type is an op's outcome.
type Type string

const (
	// Invoke marks an op that has not completed. Histories taken from a
	// Recorder never contain it; a decoded history may.
	Invoke Type = "invoke"
	// OK: the op happened and its result fields are filled.
	OK Type = "ok"
	// Fail: the op provably did not happen.
	Fail Type = "fail"
	// Info: unknown; the op may have happened, or may happen later.
	Info Type = "info"
)

// F is an op's function.
type F string

// Functions of the workloads. Reads change nothing; every other function may.
const (
	// kv: Key, Value (the value written; for read the value seen, "" when
	// absent), Revision (the revision written or seen), Expect (cas: the
	// required current revision, 0 = key must not exist).
	Read  F = "read"
	Write F = "write"
	CAS   F = "cas"

	// queue: Key is the queue path. Enqueue writes Value and returns JobID.
	// Reserve returns JobID, Attempt and Value (the payload), or an empty
	// JobID when nothing was ready. Ack and Nack present the receipt
	// (JobID, Attempt) of a delivery and carry its Value. Abandon records a
	// worker dropping a reservation without telling the server; it never
	// reaches the system.
	Enqueue F = "enqueue"
	Reserve F = "reserve"
	Ack     F = "ack"
	Nack    F = "nack"
	Abandon F = "abandon"

	// stream: Key is the stream path. Append writes Value to Partition as
	// (Producer, Seq) and returns Offset. Poll reads Partition from From and
	// returns Messages; Seek marks a poll that does not continue the
	// process's previous poll. FinalRead is a full read of Partition from
	// offset 0 on Node after the test healed.
	Append    F = "append"
	Poll      F = "poll"
	FinalRead F = "final-read"

	// txn: Transfer moves Expect units from one account to another in one
	// transaction (two puts under revision compares, one stream event and
	// one job naming the transfer); Key is "<from>><to>" (account indexes),
	// Value the transfer's ID. A transfer whose compares did not hold ran
	// its empty else-branch and is recorded Fail. Balances reads every
	// account in one transaction: Value is the balances by account index,
	// comma-separated, Revision the KV revision the reads saw. The final
	// phase adds a Balances read, a FinalRead of the ledger stream and a
	// drain of the jobs queue (Reserve and Ack, as in queue).
	Transfer F = "transfer"
	Balances F = "balances"

	// lock: Acquire takes the lock named by Key through a session of the
	// SDK's concurrency package and returns its fencing token as Revision.
	// FencedWrite is one transaction under the token (Expect): compare that
	// the hold is current, put Value to the protected key and append Value
	// as an event; Value is "<token>/<process>-<n>". A fenced write whose
	// compare did not hold is recorded Fail. Release gives the hold of
	// token Expect back. The final phase adds a FinalRead of the events
	// stream and a Read of the protected key.
	Acquire     F = "acquire"
	FencedWrite F = "fenced-write"
	Release     F = "release"
)

// IsRead reports whether f never changes the system's state, so a read that
// failed in any way can be taken as not having happened.
func (f F) IsRead() bool {
	switch f {
	case Read, Poll, FinalRead, Balances:
		return true
	}
	return false
}

// Message is one stream event seen by a poll or final read.
type Message struct {
	Offset uint64 `json:"offset"`
	Value  string `json:"value"`
}

// Op is one operation, from invocation to completion.
//
// Stored as one line of history.jsonl: fields may be added, never renamed.
type Op struct {
	Index   int  `json:"index"` // position in invocation order, from 0
	Process int  `json:"process"`
	Type    Type `json:"type"`
	F       F    `json:"f"`

	Key       string `json:"key,omitempty"`
	Partition int    `json:"partition,omitempty"`
	Value     string `json:"value,omitempty"`
	Expect    uint64 `json:"expect,omitempty"`
	Producer  string `json:"producer,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	From      uint64 `json:"from,omitempty"`
	Seek      bool   `json:"seek,omitempty"`

	Revision uint64    `json:"revision,omitempty"`
	Offset   uint64    `json:"offset,omitempty"`
	JobID    string    `json:"job_id,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Messages []Message `json:"messages,omitempty"`

	Node         string        `json:"node,omitempty"` // the node the client sent the op to
	InvokeTime   time.Duration `json:"invoke_ns"`
	CompleteTime time.Duration `json:"complete_ns"`
	Err          string        `json:"err,omitempty"`
}

// Latency is how long the op took; 0 while it is pending.
func (o Op) Latency() time.Duration {
	if o.CompleteTime < o.InvokeTime {
		return 0
	}
	return o.CompleteTime - o.InvokeTime
}

// Precedes reports whether o completed before p was invoked, so every
// observer agrees o happened first. Only a completed (ok) op can precede.
func (o Op) Precedes(p Op) bool { return o.Type == OK && o.CompleteTime < p.InvokeTime }

// String is a short human form for reports and test failures.
func (o Op) String() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// Window is a stretch of the test during which a fault was active, shown
// shaded in plots and annotated in the linearizability visualisation.
type Window struct {
	Kind   string        `json:"kind"`
	Detail string        `json:"detail,omitempty"`
	Start  time.Duration `json:"start_ns"`
	Stop   time.Duration `json:"stop_ns"`
}
