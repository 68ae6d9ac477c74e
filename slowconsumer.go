package flowmesh

import (
	"fmt"
	"time"
)

// SlowConsumerError ends a Subscribe or Watch whose client took nothing of
// what the node had ready for it for Timeout: the node drops the stream
// rather than hold its buffer for good. It matches ErrLimitExceeded.
// Everything before ResumeFrom was sent; subscribe (Stream "subscriber":
// an offset) or watch (Stream "watcher": a revision) from it to go on. The
// Go client does so by itself.
type SlowConsumerError struct {
	Stream     string // "subscriber" or "watcher"
	ResumeFrom uint64
	Timeout    time.Duration
}

func (e *SlowConsumerError) Error() string {
	pos := "offset"
	if e.Stream == "watcher" {
		pos = "revision"
	}
	return fmt.Sprintf("flowmesh: %s too slow: took nothing pending for %v (limit); resume from %s %d", e.Stream, e.Timeout, pos, e.ResumeFrom)
}
func (e *SlowConsumerError) Is(target error) bool { return target == ErrLimitExceeded }
