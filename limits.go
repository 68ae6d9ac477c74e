package flowmesh

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Limits. They are enforced by the node (and checked early by the client) with
// *LimitError or *InvalidArgumentError. A Raft log entry stays below 512 KiB,
// so one command (a whole batch) is bounded by MaxBatchBytes.
//
// Queue batches (QueueBatcher): an EnqueueBatch holds 1..MaxQueueBatch jobs
// whose payloads total at most MaxBatchBytes (more jobs: a *LimitError for
// "jobs per batch"; none: an *InvalidArgumentError for "jobs"); an AckBatch
// holds 1..MaxQueueBatch receipts ("receipts"); a ReserveBatch asks for
// max in 1..MaxQueueBatch (else an *InvalidArgumentError for "max") and
// returns jobs whose payloads total at most MaxBatchBytes, at least one.
//
// Per-tenant quotas (quota.go) are limits set at run time by the cluster
// admin and kept in the replicated state; a write over one is a
// *QuotaError. The per-tenant request rate of a node is rpc.Config's
// TenantRate; a call over it is a *RateLimitError.
//
// Memory. Streams live on disk; KV keys and values and queue job payloads
// live in every replica's memory too. The cluster-wide memory quota
// (QuotaMemoryBytes, on by default: DefaultMemoryQuota) bounds the sum over
// all tenants of what the state machine holds in memory: key, value and
// payload bytes plus the fixed MemoryPer* charges below for the structures
// around them. A write that would pass it (KV put, enqueue, create, a new
// consumer-group offset) is a *QuotaError with Tenant DefaultQuotaTenant;
// deletes, acks, purges and expiries free it. The charges are part of the
// replicated contract: every replica counts with the same values, so they
// change only with a new log op, never in place. README "Memory bounds"
// lists every in-memory structure a client can grow and what bounds it.
//
// ReserveWait and ReserveBatchWait take a wait in [0, MaxReserveWait] (else
// an *InvalidArgumentError for "wait"), embedded and through the client.
const (
	MaxNameLength            = 64        // tenant, namespace and resource names
	MaxPartitions            = 1024      // per stream
	MaxPayloadSize           = 256 << 10 // one event, job or KV value
	MaxBatchEvents           = 1000      // events per WriteEvents call
	MaxBatchBytes            = 448 << 10 // payload+keys+headers of one WriteEvents call
	MaxKeyLength             = 1024      // KV keys and stream event keys
	MaxHeaders               = 64        // headers per event
	MaxHeaderBytes           = 16 << 10  // header keys+values per event
	MaxReadMessages          = 10000     // per ReadFromOffset call
	MaxListEntries           = 10000     // per KV List call
	MaxRequestIDLen          = 128       // request, producer and dedup IDs
	MaxQueueBatch            = 100       // jobs per EnqueueBatch/ReserveBatch, receipts per AckBatch
	MaxGroupNameLen          = 128       // consumer group names
	MaxQueueAttempts         = 1000      // QueueConfig.MaxAttempts
	MaxKVHistory             = 1_000_000 // KVConfig.HistoryRevisions
	MaxTTL                   = 365 * 24 * time.Hour
	MaxVisibility            = 12 * time.Hour
	MaxDelay                 = 15 * 24 * time.Hour
	MaxReserveWait           = 20 * time.Minute // wait of one ReserveWait or ReserveBatchWait
	MaxReservePoll           = 5 * time.Minute  // one long poll a node holds a network call for; clients poll again for longer waits
	DefaultMaxAttempts       = 5
	DefaultVisibilityTimeout = 30 * time.Second
	DefaultKVHistory         = 10000
	// MaxKVHistoryBytes bounds the keys and values of one KV store's
	// history kept for Watch (whatever its HistoryRevisions): a store of
	// large values keeps fewer past revisions.
	MaxKVHistoryBytes = 64 << 20
	// DefaultKVHistoryMaxAge is how long a KV store keeps a change in its
	// Watch history (besides the count and byte bounds): the leader trims
	// older changes (storage.Config.KVHistoryMaxAge, the node's
	// --kv-history-max-age), so a deleted key's history leaves memory even
	// on an idle store. Like etcd's auto-compaction retention, a watcher
	// away longer than this resumes with a Compacted error and re-lists.
	DefaultKVHistoryMaxAge = time.Hour

	// DefaultMemoryQuota is the cluster-wide memory quota while the cluster
	// default quota sets none (like etcd's --quota-backend-bytes): with the
	// node's GOGC=200 its heap can peak at about three times it, so a 24 GiB
	// machine holds even three replicas at the cap.
	DefaultMemoryQuota = 2 << 30
	// Fixed charges against the memory quota, beyond the bytes of keys,
	// values and payloads: approximately what the state machine's own
	// structures cost per item (measured in fsm's TestMemoryCharges).
	MemoryPerKVKey       = 160  // a live KV key: btree item and slot, TTL index entry
	MemoryPerJob         = 256  // a queue job: job, map entry, heap entries
	MemoryPerResource    = 4096 // a stream, queue or KV store: its state and logs
	MemoryPerPartition   = 1024 // a stream partition: its segment log
	MemoryPerGroupOffset = 128  // a committed consumer-group offset, plus its path and group bytes

	// MaxQuotaTenants bounds the tenants with a quota of their own (the
	// cluster default not counted); more is a *LimitError.
	MaxQuotaTenants = 10000
)

// ValidateName checks a tenant, namespace or resource name: 1..MaxNameLength
// characters from [A-Za-z0-9_.-], starting with a letter or digit. field names
// the argument in the error.
func ValidateName(field, s string) error {
	if s == "" {
		return Invalid(field, "must not be empty")
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	if len(s) > MaxNameLength {
		return Invalid(field, "%s is %d characters, limit %d", Quote(s), len(s), MaxNameLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return Invalid(field, "%s must start with a letter or digit", Quote(s))
		}
		if !alnum && c != '_' && c != '-' && c != '.' {
			return Invalid(field, "%s has character %q at %d; allowed are letters, digits, '_', '-' and '.'", Quote(s), c, i)
		}
	}
	return nil
}

// ValidateReserveWait checks the wait of ReserveWait and ReserveBatchWait.
func ValidateReserveWait(wait time.Duration) error {
	if wait < 0 || wait > MaxReserveWait {
		return Invalid("wait", "%v is outside [0, %v]", wait, MaxReserveWait)
	}
	return nil
}

// JoinPath builds "tenant/namespace/name".
func JoinPath(tenant, namespace, name string) string {
	return tenant + "/" + namespace + "/" + name
}

// ParsePath splits and validates "tenant/namespace/name". It does not
// allocate unless the path is bad: every call of the API checks its path.
func ParsePath(path string) (tenant, namespace, name string, err error) {
	if !utf8.ValidString(path) {
		return "", "", "", Invalid("path", "must be valid UTF-8")
	}
	i := strings.IndexByte(path, '/')
	j := -1
	if i >= 0 {
		j = strings.IndexByte(path[i+1:], '/')
	}
	if j < 0 || strings.IndexByte(path[i+1+j+1:], '/') >= 0 {
		return "", "", "", Invalid("path", "%s must be tenant/namespace/name", Quote(path))
	}
	j += i + 1
	tenant, namespace, name = path[:i], path[i+1:j], path[j+1:]
	if err := ValidateName("tenant", tenant); err != nil {
		return "", "", "", err
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return "", "", "", err
	}
	if err := ValidateName("name", name); err != nil {
		return "", "", "", err
	}
	return tenant, namespace, name, nil
}

// ValidatePath is ParsePath's check alone.
func ValidatePath(path string) error {
	_, _, _, err := ParsePath(path)
	return err
}
