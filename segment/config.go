package segment

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes a Log. Use DefaultConfig and change what you need; zero fields
// are replaced by defaults in Open.
type Config struct {
	// SegmentMaxSize rolls the active segment when an append would make it
	// exceed this many bytes (default 64 MiB). A single batch larger than this
	// still goes into one segment, so that it stays atomic.
	SegmentMaxSize int64
	// SegmentMaxAge rolls when an appended record's Timestamp minus the active
	// segment's first Timestamp is >= this (0 = never). Only caller-given
	// timestamps are used, never the wall clock.
	SegmentMaxAge time.Duration
	// MaxRecordSize bounds len(Key)+len(Payload)+sum of header key and value
	// lengths (default 1 MiB).
	MaxRecordSize int
	// IndexInterval is the number of data bytes between sparse index entries
	// (default 4 KiB).
	IndexInterval int
	// Files is the cache of open descriptors the log's segment files go
	// through. Share one among all the logs of a node; nil uses one cache
	// for the whole process, sized by DefaultMaxOpenFiles.
	Files *FileCache
}

const (
	maxSegmentSize = 1 << 31 // index positions are uint32; keep a wide margin
	maxRecordSize  = 256 << 20
)

// DefaultConfig returns the recommended configuration.
func DefaultConfig() Config {
	return Config{
		SegmentMaxSize: 64 << 20,
		MaxRecordSize:  1 << 20,
		IndexInterval:  4 << 10,
	}
}

// Validate reports every problem with c, joined.
func (c Config) Validate() error {
	var errs []error
	if c.SegmentMaxSize <= 0 || c.SegmentMaxSize > maxSegmentSize {
		errs = append(errs, fmt.Errorf("segment: SegmentMaxSize %d must be in (0, %d]", c.SegmentMaxSize, int64(maxSegmentSize)))
	}
	if c.SegmentMaxAge < 0 {
		errs = append(errs, fmt.Errorf("segment: SegmentMaxAge %v must not be negative", c.SegmentMaxAge))
	}
	if c.MaxRecordSize <= 0 || c.MaxRecordSize > maxRecordSize {
		errs = append(errs, fmt.Errorf("segment: MaxRecordSize %d must be in (0, %d]", c.MaxRecordSize, maxRecordSize))
	}
	if c.IndexInterval <= 0 {
		errs = append(errs, fmt.Errorf("segment: IndexInterval %d must be positive", c.IndexInterval))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SegmentMaxSize == 0 {
		c.SegmentMaxSize = d.SegmentMaxSize
	}
	if c.MaxRecordSize == 0 {
		c.MaxRecordSize = d.MaxRecordSize
	}
	if c.IndexInterval == 0 {
		c.IndexInterval = d.IndexInterval
	}
	if c.Files == nil {
		c.Files = sharedFiles()
	}
	return c
}
