package segment

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// Options are the roll and index settings of a Log, the part of Config a
// node's operator tunes (storage.Config.Segment). Zero fields take
// DefaultOptions' values (EnsureDefaults).
type Options struct {
	// SegmentMaxSize rolls the active segment when an append would make it
	// exceed this many bytes (default 64 MiB). A single batch larger than this
	// still goes into one segment, so that it stays atomic.
	SegmentMaxSize int64
	// SegmentMaxAge rolls when an appended record's Timestamp minus the active
	// segment's first Timestamp is >= this (default DefaultSegmentMaxAge;
	// negative: never by age). Only caller-given timestamps are used, never
	// the wall clock.
	SegmentMaxAge time.Duration
	// IndexInterval is the number of data bytes between sparse index entries
	// (default 4 KiB).
	IndexInterval int
}

// Config tunes a Log. Use DefaultConfig and change what you need; zero fields
// are replaced by defaults in Open.
type Config struct {
	Options
	// MaxRecordSize bounds len(Key)+len(Payload)+sum of header key and value
	// lengths (default 1 MiB). It is a bound of the format the FSM writes,
	// not an operator's setting: it stays out of Options.
	MaxRecordSize int
	// Files is the cache of open descriptors the log's segment files go
	// through. Share one among all the logs of a node; nil uses one cache
	// for the whole process, sized by DefaultMaxOpenFiles.
	Files *FileCache
	// FS is the file system the log's files are on; nil is the operating
	// system (vfs.Default). Tests inject I/O errors and crashes through it.
	FS vfs.FS
}

const (
	maxSegmentSize = 1 << 31 // index positions are uint32; keep a wide margin
	maxRecordSize  = 256 << 20

	// DefaultSegmentMaxSize is Options.SegmentMaxSize's default.
	DefaultSegmentMaxSize = 64 << 20
	// DefaultSegmentMaxAge is Options.SegmentMaxAge's default: a day of
	// stamped time per segment, so that age-based retention frees space
	// a day at a time.
	DefaultSegmentMaxAge = 24 * time.Hour
	// DefaultIndexInterval is Options.IndexInterval's default.
	DefaultIndexInterval = 4 << 10
)

// DefaultOptions returns the recommended options.
func DefaultOptions() Options {
	return Options{
		SegmentMaxSize: DefaultSegmentMaxSize,
		SegmentMaxAge:  DefaultSegmentMaxAge,
		IndexInterval:  DefaultIndexInterval,
	}
}

// EnsureDefaults fills o's zero fields from DefaultOptions.
func (o *Options) EnsureDefaults() {
	d := DefaultOptions()
	if o.SegmentMaxSize == 0 {
		o.SegmentMaxSize = d.SegmentMaxSize
	}
	if o.SegmentMaxAge == 0 {
		o.SegmentMaxAge = d.SegmentMaxAge
	}
	if o.IndexInterval == 0 {
		o.IndexInterval = d.IndexInterval
	}
}

// Validate reports every problem with o, joined. Zero fields, which
// EnsureDefaults fills, are not problems.
func (o Options) Validate() error {
	o.EnsureDefaults()
	var errs []error
	if o.SegmentMaxSize <= 0 || o.SegmentMaxSize > maxSegmentSize {
		errs = append(errs, fmt.Errorf("segment: SegmentMaxSize %d must be in (0, %d]", o.SegmentMaxSize, int64(maxSegmentSize)))
	}
	if o.IndexInterval <= 0 {
		errs = append(errs, fmt.Errorf("segment: IndexInterval %d must be positive", o.IndexInterval))
	}
	return errors.Join(errs...)
}

// DefaultConfig returns the recommended configuration.
func DefaultConfig() Config {
	return Config{Options: DefaultOptions(), MaxRecordSize: 1 << 20}
}

// Validate reports every problem with c, joined. Zero fields, which Open
// fills, are not problems.
func (c Config) Validate() error {
	var errs []error
	if err := c.Options.Validate(); err != nil {
		errs = append(errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	if c.MaxRecordSize < 0 || c.MaxRecordSize > maxRecordSize {
		errs = append(errs, fmt.Errorf("segment: MaxRecordSize %d must be in (0, %d]", c.MaxRecordSize, maxRecordSize))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	c.EnsureDefaults()
	if c.MaxRecordSize == 0 {
		c.MaxRecordSize = DefaultConfig().MaxRecordSize
	}
	if c.Files == nil {
		c.Files = sharedFiles()
	}
	c.FS = vfs.Or(c.FS)
	return c
}
