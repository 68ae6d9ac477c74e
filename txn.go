package flowmesh

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Transactions: compares, then-ops and else-ops over the KV stores, streams
// and queues of one tenant, applied as one replicated command (one Raft
// entry). Every node evaluates the compares against the same state; when
// all hold the Then ops run, otherwise the Else ops. The ops of the branch
// that runs are checked together before any of them changes anything: a
// failing op (a missing resource or key, a stale receipt, a quota, a limit)
// fails the whole transaction with a *TxnOpError naming it, and nothing
// changes. A transaction with a request ID (WithRequestID) is deduplicated
// like every other write: a retry returns the first result.
//
// Inside a branch the ops apply in order: a Get or Range sees the changes
// of the ops before it, and nothing of any other write (the transaction is
// one step of the log). KV changes of one transaction take consecutive
// revisions; Watch sees them in op order.
//
// Limits (enforced by the node and checked early by the client): at most
// MaxTxnCompares compares, MaxTxnOps ops in Then and Else together, and
// MaxTxnBytes of keys, values, payloads, events and headers in the whole
// transaction; each op within the limits of its single call. Reads return
// at most MaxTxnReadBytes of keys and values in all: a Range stops early
// and a Get leaves its entry out once the budget is spent, with Truncated
// set. Every path must name the same tenant; another tenant is an
// *InvalidArgumentError for that path ("then[1].path").
const (
	MaxTxnCompares     = 64
	MaxTxnOps          = 128
	MaxTxnBytes        = MaxBatchBytes
	MaxTxnReadBytes    = 4 << 20
	MaxTxnRangeEntries = 1000 // entries of one Range op
)

// TxnManager runs transactions. The embedded node's KVManager and the
// network client implement it; type-assert to find it.
type TxnManager interface {
	Txn(ctx context.Context, txn Txn, opts ...CallOption) (*TxnResult, error)
}

// Txn is a transaction: when every compare holds, Then runs; otherwise Else.
type Txn struct {
	Compares []TxnCompare
	Then     []TxnOp
	Else     []TxnOp
}

// CompareTarget is what a TxnCompare looks at.
//
// Stored in the Raft log: values are append-only, never renumber.
type CompareTarget int32

const (
	CompareKVRevision       CompareTarget = 1 // a key's revision (0: absent)
	CompareKVCreateRevision CompareTarget = 2 // a key's create revision (0: absent)
	CompareKVValue          CompareTarget = 3 // a key's value (false whatever the op when absent)
	CompareKVExists         CompareTarget = 4 // whether a key exists
	CompareStreamNext       CompareTarget = 5 // a partition's next offset
	CompareJobHeld          CompareTarget = 6 // whether a receipt is its job's current, unexpired reservation
)

func (t CompareTarget) String() string {
	switch t {
	case CompareKVRevision:
		return "kv_revision"
	case CompareKVCreateRevision:
		return "kv_create_revision"
	case CompareKVValue:
		return "kv_value"
	case CompareKVExists:
		return "kv_exists"
	case CompareStreamNext:
		return "stream_next"
	case CompareJobHeld:
		return "job_held"
	}
	return "unknown"
}

// CompareOp is how a TxnCompare compares. Exists and held compares take
// CompareEqual or CompareNotEqual only.
//
// Stored in the Raft log: values are append-only, never renumber.
type CompareOp int32

const (
	CompareEqual    CompareOp = 0
	CompareNotEqual CompareOp = 1
	CompareLess     CompareOp = 2 // the actual value is less than the compare's
	CompareGreater  CompareOp = 3
)

func (o CompareOp) String() string {
	switch o {
	case CompareEqual:
		return "="
	case CompareNotEqual:
		return "!="
	case CompareLess:
		return "<"
	case CompareGreater:
		return ">"
	}
	return "?"
}

// TxnCompare is one condition of a transaction. Build it with the Compare*
// functions.
type TxnCompare struct {
	Target    CompareTarget
	Op        CompareOp
	Path      string
	Key       string  // KV compares
	Partition int     // CompareStreamNext
	Number    uint64  // revision, create revision or next offset
	Value     []byte  // CompareKVValue
	Flag      bool    // CompareKVExists, CompareJobHeld
	Receipt   Receipt // CompareJobHeld
}

// CompareRevision holds when key's revision (0 when absent) compares to rev by op.
func CompareRevision(path, key string, op CompareOp, rev uint64) TxnCompare {
	return TxnCompare{Target: CompareKVRevision, Op: op, Path: path, Key: key, Number: rev}
}

// CompareCreateRevision holds when key's create revision (0 when absent)
// compares to rev by op. A lock's fencing token is its key's create revision.
func CompareCreateRevision(path, key string, op CompareOp, rev uint64) TxnCompare {
	return TxnCompare{Target: CompareKVCreateRevision, Op: op, Path: path, Key: key, Number: rev}
}

// CompareValue holds when key exists and its value compares to value by op
// (bytewise).
func CompareValue(path, key string, op CompareOp, value []byte) TxnCompare {
	return TxnCompare{Target: CompareKVValue, Op: op, Path: path, Key: key, Value: value}
}

// CompareExists holds when key's existence is exists.
func CompareExists(path, key string, exists bool) TxnCompare {
	return TxnCompare{Target: CompareKVExists, Path: path, Key: key, Flag: exists}
}

// CompareNext holds when the partition's next offset compares to next by op:
// with CompareEqual, an expected-version append.
func CompareNext(path string, partition int, op CompareOp, next uint64) TxnCompare {
	return TxnCompare{Target: CompareStreamNext, Op: op, Path: path, Partition: partition, Number: next}
}

// CompareHeld holds when receipt is (held true) or is not (held false) its
// job's current reservation, in flight and not yet past its visibility.
func CompareHeld(path string, receipt Receipt, held bool) TxnCompare {
	return TxnCompare{Target: CompareJobHeld, Path: path, Receipt: receipt, Flag: held}
}

// TxnOpType is the kind of a TxnOp.
//
// Stored in the Raft log: values are append-only, never renumber.
type TxnOpType int32

const (
	TxnPut     TxnOpType = 1
	TxnDelete  TxnOpType = 2
	TxnAppend  TxnOpType = 3
	TxnEnqueue TxnOpType = 4
	TxnAck     TxnOpType = 5
	TxnNack    TxnOpType = 6
	TxnGet     TxnOpType = 7
	TxnRange   TxnOpType = 8
)

func (t TxnOpType) String() string {
	switch t {
	case TxnPut:
		return "put"
	case TxnDelete:
		return "delete"
	case TxnAppend:
		return "append"
	case TxnEnqueue:
		return "enqueue"
	case TxnAck:
		return "ack"
	case TxnNack:
		return "nack"
	case TxnGet:
		return "get"
	case TxnRange:
		return "range"
	}
	return "unknown"
}

// TxnOp is one op of a transaction's branch. Build it with the Op* functions.
type TxnOp struct {
	Type    TxnOpType
	Path    string
	Key     string        // put, delete, get
	Value   []byte        // put
	TTL     time.Duration // put
	Events  []StreamEvent // append
	Payload []byte        // enqueue
	Enqueue QueueEnqueueOptions
	Receipt Receipt       // ack, nack
	Delay   time.Duration // nack
	Prefix  string        // range
	After   string        // range: keys > After
	Limit   int           // range: 1..MaxTxnRangeEntries (0: MaxTxnRangeEntries)
}

// OpPut puts key=value, expiring after ttl (0: never). A missing key is created.
func OpPut(path, key string, value []byte, ttl time.Duration) TxnOp {
	return TxnOp{Type: TxnPut, Path: path, Key: key, Value: value, TTL: ttl}
}

// OpDelete deletes key, which must exist.
func OpDelete(path, key string) TxnOp { return TxnOp{Type: TxnDelete, Path: path, Key: key} }

// OpAppend appends events to a stream (each to its Partition, or by Key).
func OpAppend(path string, events ...StreamEvent) TxnOp {
	return TxnOp{Type: TxnAppend, Path: path, Events: events}
}

// OpEnqueue enqueues a job; opts.DedupID is deduplicated as Enqueue's is.
func OpEnqueue(path string, payload []byte, opts QueueEnqueueOptions) TxnOp {
	return TxnOp{Type: TxnEnqueue, Path: path, Payload: payload, Enqueue: opts}
}

// OpAck acknowledges the receipt's reservation, which must be current.
func OpAck(path string, receipt Receipt) TxnOp {
	return TxnOp{Type: TxnAck, Path: path, Receipt: receipt}
}

// OpNack releases the receipt's reservation; the job is ready after delay.
func OpNack(path string, receipt Receipt, delay time.Duration) TxnOp {
	return TxnOp{Type: TxnNack, Path: path, Receipt: receipt, Delay: delay}
}

// OpGet reads key (absent: Found false, not an error).
func OpGet(path, key string) TxnOp { return TxnOp{Type: TxnGet, Path: path, Key: key} }

// OpRange reads up to limit entries with prefix and key > after, in key order.
func OpRange(path, prefix, after string, limit int) TxnOp {
	return TxnOp{Type: TxnRange, Path: path, Prefix: prefix, After: after, Limit: limit}
}

// TxnResult is what a transaction did.
type TxnResult struct {
	// Succeeded is true when every compare held and Then ran; false when
	// Else ran.
	Succeeded bool
	// Revision is the KV revision after the transaction: the last of its
	// own changes, or the revision its reads saw.
	Revision uint64
	// Results has one entry per op of the branch that ran.
	Results []TxnOpResult
}

// TxnOpResult is one op's result.
type TxnOpResult struct {
	Type      TxnOpType
	Revision  uint64     // put, delete: the change's revision
	Positions []Position // append: one per event
	JobID     string     // enqueue (the original job's when the DedupID repeated)
	Seq       uint64
	Found     bool      // get: the key exists (Entries holds it unless Truncated)
	Entries   []KVEntry // get (0 or 1), range
	// Truncated: the transaction's read budget (MaxTxnReadBytes) ran out, so
	// a range returned fewer entries than there are, or a get left its
	// entry out. Read the rest with Get or List.
	Truncated bool
}

// TxnOpError is a transaction refused because of one of its compares or
// ops: Branch is "compares", "then" or "else", Index the position in it.
// It unwraps to the op's own error (ErrNotFound, ErrStaleReceipt, a
// *LimitError, a *QuotaError...), so errors.Is and errors.As see that.
type TxnOpError struct {
	Branch string
	Index  int
	Op     string // the op type or compare target
	Err    error
}

func (e *TxnOpError) Error() string {
	return fmt.Sprintf("flowmesh: transaction %s[%d] (%s): %v", e.Branch, e.Index, e.Op, e.Err)
}
func (e *TxnOpError) Unwrap() error { return e.Err }

// txnField names a field of an item: "then[2].key".
func txnField(branch string, i int, field string) string {
	return branch + "[" + strconv.Itoa(i) + "]." + field
}

// ValidateTxn checks a transaction's shape against the limits and returns
// the one tenant it acts on. The node checks again when it applies the
// transaction, against the resources themselves (partition counts, a
// queue's payload limit, quotas).
func ValidateTxn(txn Txn) (tenant string, err error) {
	if len(txn.Compares) == 0 && len(txn.Then) == 0 && len(txn.Else) == 0 {
		return "", Invalid("txn", "has no compares and no ops")
	}
	if n := len(txn.Compares); n > MaxTxnCompares {
		return "", &LimitError{What: "compares per transaction", Limit: MaxTxnCompares, Got: int64(n)}
	}
	if n := len(txn.Then) + len(txn.Else); n > MaxTxnOps {
		return "", &LimitError{What: "ops per transaction (then and else)", Limit: MaxTxnOps, Got: int64(n)}
	}
	var total int64
	checkPath := func(branch string, i int, path string) error {
		t, _, _, err := ParsePath(path)
		if err != nil {
			if ie, ok := err.(*InvalidArgumentError); ok {
				return Invalid(txnField(branch, i, "path"), "%s", ie.Reason)
			}
			return err
		}
		switch {
		case tenant == "":
			tenant = t
		case t != tenant:
			return Invalid(txnField(branch, i, "path"), "tenant %s differs from the transaction's tenant %s: a transaction acts on one tenant", Quote(t), Quote(tenant))
		}
		return nil
	}
	for i, c := range txn.Compares {
		if c.Target < CompareKVRevision || c.Target > CompareJobHeld {
			return "", Invalid(txnField("compares", i, "target"), "unknown target %d", c.Target)
		}
		if err := checkPath("compares", i, c.Path); err != nil {
			return "", err
		}
		if err := validateCompare(i, c); err != nil {
			return "", err
		}
		total += int64(len(c.Key) + len(c.Value) + len(c.Receipt.JobID))
	}
	for _, b := range []struct {
		name string
		ops  []TxnOp
	}{{"then", txn.Then}, {"else", txn.Else}} {
		for i, op := range b.ops {
			if op.Type < TxnPut || op.Type > TxnRange {
				return "", Invalid(txnField(b.name, i, "type"), "unknown op type %d", op.Type)
			}
			if err := checkPath(b.name, i, op.Path); err != nil {
				return "", err
			}
			n, err := validateTxnOp(b.name, i, op)
			if err != nil {
				return "", err
			}
			total += n
		}
	}
	if total > MaxTxnBytes {
		return "", &LimitError{What: "transaction bytes", Limit: MaxTxnBytes, Got: total}
	}
	return tenant, nil
}

func validateReceipt(field string, r Receipt) error {
	if r.JobID == "" {
		return Invalid(field+".job_id", "must not be empty")
	}
	if n := len(r.JobID); n > MaxRequestIDLen {
		return Invalid(field+".job_id", "is %d bytes, limit %d", n, MaxRequestIDLen)
	}
	if err := validateUTF8(field+".job_id", r.JobID); err != nil {
		return err
	}
	if r.Attempt < 1 || r.Attempt > maxAttempt {
		return Invalid(field+".attempt", "%d is outside 1..%d", r.Attempt, maxAttempt)
	}
	return nil
}

func validateCompare(i int, c TxnCompare) error {
	f := func(name string) string { return txnField("compares", i, name) }
	if c.Op < CompareEqual || c.Op > CompareGreater {
		return Invalid(f("op"), "unknown op %d", c.Op)
	}
	switch c.Target {
	case CompareKVRevision, CompareKVCreateRevision, CompareKVValue, CompareKVExists:
		if err := validateKey(f("key"), c.Key); err != nil {
			return err
		}
		if len(c.Value) > MaxPayloadSize {
			return &LimitError{What: f("value") + " bytes", Limit: MaxPayloadSize, Got: int64(len(c.Value))}
		}
	case CompareStreamNext:
		if c.Partition < 0 || c.Partition >= MaxPartitions {
			return Invalid(f("partition"), "%d is outside 0..%d", c.Partition, MaxPartitions-1)
		}
	case CompareJobHeld:
		if err := validateReceipt(f("receipt"), c.Receipt); err != nil {
			return err
		}
	default:
		return Invalid(f("target"), "unknown target %d", c.Target)
	}
	if (c.Target == CompareKVExists || c.Target == CompareJobHeld) && c.Op != CompareEqual && c.Op != CompareNotEqual {
		return Invalid(f("op"), "%s compares take = or != only, not %s", c.Target, c.Op)
	}
	return nil
}

// validateTxnOp checks one op and returns the bytes it counts against MaxTxnBytes.
func validateTxnOp(branch string, i int, op TxnOp) (int64, error) {
	f := func(name string) string { return txnField(branch, i, name) }
	switch op.Type {
	case TxnPut:
		if err := validateKey(f("key"), op.Key); err != nil {
			return 0, err
		}
		if n := len(op.Value); n > MaxPayloadSize {
			return 0, &LimitError{What: f("value") + " bytes", Limit: MaxPayloadSize, Got: int64(n)}
		}
		if op.TTL < 0 || op.TTL > MaxTTL {
			return 0, Invalid(f("ttl"), "%v is outside [0, %v]", op.TTL, MaxTTL)
		}
		return int64(len(op.Key) + len(op.Value)), nil
	case TxnDelete, TxnGet:
		return int64(len(op.Key)), validateKey(f("key"), op.Key)
	case TxnAppend:
		if len(op.Events) == 0 {
			return 0, Invalid(f("events"), "must not be empty")
		}
		if n := len(op.Events); n > MaxBatchEvents {
			return 0, &LimitError{What: f("events") + " per append", Limit: MaxBatchEvents, Got: int64(n)}
		}
		var n int64
		for j, e := range op.Events {
			m, err := validateEvent(f("events["+strconv.Itoa(j)+"]."), e)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	case TxnEnqueue:
		if n := len(op.Payload); n > MaxPayloadSize {
			return 0, &LimitError{What: f("payload") + " bytes", Limit: MaxPayloadSize, Got: int64(n)}
		}
		if op.Enqueue.Delay < 0 || op.Enqueue.Delay > MaxDelay {
			return 0, Invalid(f("delay"), "%v is outside [0, %v]", op.Enqueue.Delay, MaxDelay)
		}
		if err := validateID(f("dedup_id"), op.Enqueue.DedupID); err != nil {
			return 0, err
		}
		return int64(len(op.Payload) + len(op.Enqueue.DedupID)), nil
	case TxnAck, TxnNack:
		if err := validateReceipt(f("receipt"), op.Receipt); err != nil {
			return 0, err
		}
		if op.Type == TxnNack && (op.Delay < 0 || op.Delay > MaxDelay) {
			return 0, Invalid(f("delay"), "%v is outside [0, %v]", op.Delay, MaxDelay)
		}
		return int64(len(op.Receipt.JobID)), nil
	case TxnRange:
		if op.Limit < 0 || op.Limit > MaxTxnRangeEntries {
			return 0, Invalid(f("limit"), "%d is outside 0..%d", op.Limit, MaxTxnRangeEntries)
		}
		if len(op.Prefix) > MaxKeyLength || len(op.After) > MaxKeyLength {
			return 0, &LimitError{What: f("prefix") + " length", Limit: MaxKeyLength, Got: int64(max(len(op.Prefix), len(op.After)))}
		}
		return int64(len(op.Prefix) + len(op.After)), nil
	}
	return 0, Invalid(f("type"), "unknown op type %d", op.Type)
}
