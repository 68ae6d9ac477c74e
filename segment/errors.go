package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrOutOfRange is matched by *OutOfRangeError.
	ErrOutOfRange = errors.New("segment: offset out of range")
	// ErrRecordTooLarge is returned (wrapped with detail) for records above
	// Config.MaxRecordSize.
	ErrRecordTooLarge = errors.New("segment: record too large")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("segment: log closed")
	// ErrCorrupt is matched by *CorruptionError and by frame decoding errors.
	ErrCorrupt = errors.New("segment: corrupt data")
	// ErrNoSpace is returned (wrapped with the file and the system error)
	// by AppendBatch when writing the batch failed for want of space
	// (ENOSPC, EDQUOT). Nothing of the batch was published and the log
	// stays writable: the same batch may be appended again once there is
	// space, and gets the same offsets.
	ErrNoSpace = errors.New("segment: no space left")
)

// OutOfRangeError reports a read or truncation outside [Earliest, Next].
type OutOfRangeError struct {
	Requested, Earliest, Next uint64
}

func (e *OutOfRangeError) Error() string {
	return fmt.Sprintf("segment: offset %d out of range [%d, %d]", e.Requested, e.Earliest, e.Next)
}

// Is reports whether target is ErrOutOfRange.
func (e *OutOfRangeError) Is(target error) bool { return target == ErrOutOfRange }

// CorruptionError names the file and byte position of damaged data that
// cannot be repaired by cutting a torn tail (i.e. inside a sealed segment).
type CorruptionError struct {
	File     string
	Position int64
	Reason   string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("segment: corrupt data in %s at position %d: %s", e.File, e.Position, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// frameError is the cheap, allocation-free error the internal decoder uses;
// it matches ErrCorrupt.
type frameError string

func (e frameError) Error() string        { return "segment: corrupt data: " + string(e) }
func (e frameError) Is(target error) bool { return target == ErrCorrupt }

const (
	errBadLength  = frameError("bad frame length")
	errBadCRC     = frameError("crc mismatch")
	errBadVersion = frameError("unknown frame version")
	errBadBody    = frameError("malformed frame body")
)
