package segment

// Header is one record header.
type Header struct{ Key, Value string }

// Record is one entry of a Log.
type Record struct {
	Offset    uint64 // assigned by Append; ignored on input
	Index     uint64 // raft index that produced it
	Timestamp int64  // unix nanoseconds, given by the caller
	Key       []byte
	Headers   []Header
	Payload   []byte
}
