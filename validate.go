package flowmesh

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// One check per operation, over the operation's arguments as the API takes
// them. The embedded node (package storage), the gRPC server (package rpc)
// and the client call the same function, so a mistake gets the same error
// (type, field and text) wherever it is caught, and the client refuses
// early what the node would refuse. The path of an operation that takes
// one is checked first, by ValidatePath; every other argument by the
// operation's check below (or by queuebatch.go's, ValidateTxn's). What
// needs the node's state (does the partition exist, is the receipt current,
// the queue's own payload limit) is the state machine's to check.
//
// Fields are named as in the wire protocol, in snake case; an item of a
// list as "events[3].key". A value over a size limit is a *LimitError whose
// What names the field and the measure ("value bytes", "key length"); any
// other mistake an *InvalidArgumentError.

// validateKey checks a KV key: 1..MaxKeyLength bytes of valid UTF-8.
func validateKey(field, key string) error {
	if key == "" {
		return Invalid(field, "must not be empty")
	}
	if len(key) > MaxKeyLength {
		return &LimitError{What: field + " length", Limit: MaxKeyLength, Got: int64(len(key))}
	}
	return validateUTF8(field, key)
}

// validateKeyRange checks a prefix or bound of keys: like a key, but it may
// be empty.
func validateKeyRange(field, s string) error {
	if s == "" {
		return nil
	}
	return validateKey(field, s)
}

func validateUTF8(field, s string) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	return nil
}

// validateID checks an optional ID (request, producer, dedup): at most
// MaxRequestIDLen bytes of valid UTF-8.
func validateID(field, id string) error {
	if n := len(id); n > MaxRequestIDLen {
		return Invalid(field, "is %d bytes, limit %d", n, MaxRequestIDLen)
	}
	return validateUTF8(field, id)
}

func validatePayload(field string, n int) error {
	if n > MaxPayloadSize {
		return &LimitError{What: field + " bytes", Limit: MaxPayloadSize, Got: int64(n)}
	}
	return nil
}

func validateDuration(field string, d, max time.Duration) error {
	if d < 0 || d > max {
		return Invalid(field, "%v is outside [0, %v]", d, max)
	}
	return nil
}

func validatePartition(field string, p int) error {
	if p < 0 || p >= MaxPartitions {
		return Invalid(field, "%d is outside 0..%d", p, MaxPartitions-1)
	}
	return nil
}

// ValidateCallOptions checks the per-call options of any call: request and
// producer IDs of at most MaxRequestIDLen bytes of UTF-8, a known
// consistency level and a MaxStaleness that is not negative.
func ValidateCallOptions(o CallOptions) error {
	if err := validateID("request_id", o.RequestID); err != nil {
		return err
	}
	if err := validateID("producer_id", o.ProducerID); err != nil {
		return err
	}
	switch o.Consistency {
	case Linearizable, Leader, Stale:
	default:
		return Invalid("consistency", "unknown level %d", o.Consistency)
	}
	if o.MaxStaleness < 0 {
		return Invalid("max_staleness", "%v is negative", o.MaxStaleness)
	}
	return nil
}

// KV stores (KVManager).

// ValidatePut checks Put's arguments: a key of 1..MaxKeyLength bytes of
// UTF-8, a value of at most MaxPayloadSize bytes and a TTL in [0, MaxTTL].
func ValidatePut(key string, value []byte, opts KVPutOptions) error {
	if err := validateKey("key", key); err != nil {
		return err
	}
	if err := validatePayload("value", len(value)); err != nil {
		return err
	}
	return validateDuration("ttl", opts.TTL, MaxTTL)
}

// ValidateGet checks Get's key, as ValidatePut.
func ValidateGet(key string) error { return validateKey("key", key) }

// ValidateDelete checks Delete's key, as ValidatePut.
func ValidateDelete(key string) error { return validateKey("key", key) }

// ValidateList checks List's arguments: a prefix and an after key of at
// most MaxKeyLength bytes of UTF-8 (both may be empty) and a limit in
// 0..MaxListEntries (0: MaxListEntries).
func ValidateList(prefix, after string, limit int) error {
	if err := validateKeyRange("prefix", prefix); err != nil {
		return err
	}
	if err := validateKeyRange("after", after); err != nil {
		return err
	}
	if limit < 0 || limit > MaxListEntries {
		return Invalid("limit", "%d is outside 0..%d", limit, MaxListEntries)
	}
	return nil
}

// ValidateWatch checks Watch's prefix (it may be empty).
func ValidateWatch(prefix string) error { return validateKeyRange("prefix", prefix) }

// Streams (StreamManager).

// ValidateWriteEvents checks a WriteEvents batch: 1..MaxBatchEvents events,
// each with a payload of at most MaxPayloadSize bytes, a key of at most
// MaxKeyLength bytes (any bytes: the wire carries it as bytes), at most MaxHeaders headers of
// MaxHeaderBytes with non-empty UTF-8 keys and UTF-8 values, a partition
// in 0..MaxPartitions-1; payloads, keys and headers totalling at most
// MaxBatchBytes. Whether the stream has the partition is the node's check.
func ValidateWriteEvents(events []StreamEvent) error {
	if len(events) == 0 {
		return Invalid("events", "must not be empty")
	}
	if n := len(events); n > MaxBatchEvents {
		return &LimitError{What: "events per batch", Limit: MaxBatchEvents, Got: int64(n)}
	}
	var total int64
	for i, e := range events {
		n, err := validateEvent("events["+strconv.Itoa(i)+"].", e)
		if err != nil {
			return err
		}
		total += n
	}
	if total > MaxBatchBytes {
		return &LimitError{What: "batch bytes", Limit: MaxBatchBytes, Got: total}
	}
	return nil
}

// validateEvent checks one event (its fields named with prefix) and
// returns the bytes it counts against a batch's limit.
func validateEvent(prefix string, e StreamEvent) (int64, error) {
	if err := validatePayload(prefix+"payload", len(e.Payload)); err != nil {
		return 0, err
	}
	if len(e.Key) > MaxKeyLength {
		return 0, &LimitError{What: prefix + "key length", Limit: MaxKeyLength, Got: int64(len(e.Key))}
	}
	if len(e.Headers) > MaxHeaders {
		return 0, &LimitError{What: prefix + "headers count", Limit: MaxHeaders, Got: int64(len(e.Headers))}
	}
	hb := 0
	for k, v := range e.Headers {
		if k == "" {
			return 0, Invalid(prefix+"headers", "has an empty header key")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return 0, Invalid(prefix+"headers", "must be valid UTF-8")
		}
		hb += len(k) + len(v)
	}
	if hb > MaxHeaderBytes {
		return 0, &LimitError{What: prefix + "headers bytes", Limit: MaxHeaderBytes, Got: int64(hb)}
	}
	if err := validatePartition(prefix+"partition", e.Partition); err != nil {
		return 0, err
	}
	return int64(len(e.Payload) + len(e.Key) + hb), nil
}

// ValidateReadFromOffset checks ReadFromOffset's partition (0..MaxPartitions-1)
// and max (1..MaxReadMessages).
func ValidateReadFromOffset(partition, max int) error {
	if err := validatePartition("partition", partition); err != nil {
		return err
	}
	if max < 1 || max > MaxReadMessages {
		return Invalid("max", "%d is outside 1..%d", max, MaxReadMessages)
	}
	return nil
}

// ValidateSubscribe checks Subscribe's partition.
func ValidateSubscribe(partition int) error { return validatePartition("partition", partition) }

// ValidatePartitionInfo checks PartitionInfo's partition.
func ValidatePartitionInfo(partition int) error { return validatePartition("partition", partition) }

// ValidateCommitOffset checks CommitOffset's group (1..MaxGroupNameLen
// bytes of UTF-8) and partition.
func ValidateCommitOffset(group string, partition int) error {
	if group == "" {
		return Invalid("group", "must not be empty")
	}
	if n := len(group); n > MaxGroupNameLen {
		return Invalid("group", "is %d bytes, limit %d", n, MaxGroupNameLen)
	}
	if err := validateUTF8("group", group); err != nil {
		return err
	}
	return validatePartition("partition", partition)
}

// ValidateFetchOffset checks FetchOffset's group and partition, as
// ValidateCommitOffset.
func ValidateFetchOffset(group string, partition int) error {
	return ValidateCommitOffset(group, partition)
}

// Queues (QueueManager). The batch calls are in queuebatch.go.

// ValidateEnqueue checks Enqueue's arguments: a payload of at most
// MaxPayloadSize bytes (the queue's own MaxPayload is the node's check), a
// delay in [0, MaxDelay] and a DedupID of at most MaxRequestIDLen bytes.
func ValidateEnqueue(payload []byte, opts QueueEnqueueOptions) error {
	if err := validatePayload("payload", len(payload)); err != nil {
		return err
	}
	if err := validateDuration("delay", opts.Delay, MaxDelay); err != nil {
		return err
	}
	return validateID("dedup_id", opts.DedupID)
}

// ValidateReserve checks Reserve's visibility: [0, MaxVisibility], 0 for
// the queue's default. ReserveWait checks its wait with ValidateReserveWait.
func ValidateReserve(visibility time.Duration) error {
	return validateDuration("visibility", visibility, MaxVisibility)
}

// ValidateAck checks Ack's receipt: a job ID of 1..MaxRequestIDLen bytes
// of UTF-8 and an attempt in 1..MaxInt32.
func ValidateAck(r Receipt) error { return validateReceipt("receipt", r) }

// ValidateNack checks Nack's receipt and its delay, in [0, MaxDelay].
func ValidateNack(r Receipt, delay time.Duration) error {
	if err := ValidateAck(r); err != nil {
		return err
	}
	return validateDuration("delay", delay, MaxDelay)
}

// ValidateTouch checks Touch's receipt and its visibility, in
// (0, MaxVisibility]: a touch sets a new reservation length, it has no
// default.
func ValidateTouch(r Receipt, visibility time.Duration) error {
	if err := ValidateAck(r); err != nil {
		return err
	}
	if visibility <= 0 || visibility > MaxVisibility {
		return Invalid("visibility", "%v is outside (0, %v]", visibility, MaxVisibility)
	}
	return nil
}

// ValidateRemoveFromInFlight checks RemoveFromInFlight's job ID, a
// reservation ID (ReservationID): 1..MaxRequestIDLen bytes of UTF-8.
func ValidateRemoveFromInFlight(jobID string) error {
	if jobID == "" {
		return Invalid("job_id", "must not be empty")
	}
	return validateID("job_id", jobID)
}

// ValidateListDead checks ListDead's limit: 0..MaxReadMessages (0:
// MaxReadMessages).
func ValidateListDead(limit int) error {
	if limit < 0 || limit > MaxReadMessages {
		return Invalid("limit", "%d is outside 0..%d", limit, MaxReadMessages)
	}
	return nil
}

// Resources (ResourceManager).

// WithDefaults returns c with its zero fields set to their defaults.
func (c QueueConfig) WithDefaults() QueueConfig {
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = MaxPayloadSize
	}
	return c
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c KVConfig) WithDefaults() KVConfig {
	if c.HistoryRevisions == 0 {
		c.HistoryRevisions = DefaultKVHistory
	}
	return c
}

func validateNames(tenant, namespace, name string) error {
	if err := ValidateName("tenant", tenant); err != nil {
		return err
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return err
	}
	return ValidateName("name", name)
}

// ValidateCreateStream checks CreateStream's names and configuration:
// 1..MaxPartitions partitions and retention values that are not negative.
func ValidateCreateStream(tenant, namespace, name string, cfg StreamConfig) error {
	if err := validateNames(tenant, namespace, name); err != nil {
		return err
	}
	return validateStreamConfig(cfg)
}

// ValidateCreateQueue checks CreateQueue's names, partitions (0 or 1: a
// queue is one FIFO) and configuration after WithDefaults: a visibility
// timeout in (0, MaxVisibility], 1..MaxQueueAttempts attempts, a payload
// limit in 1..MaxPayloadSize and a dead-letter queue of the same tenant
// (ValidateDeadLetterQueue).
func ValidateCreateQueue(tenant, namespace, name string, partitions int, cfg QueueConfig) error {
	if err := validateNames(tenant, namespace, name); err != nil {
		return err
	}
	if partitions != 0 && partitions != 1 {
		return Invalid("partitions", "a queue has exactly 1 partition (0 means 1), got %d", partitions)
	}
	return validateQueueConfig(tenant, namespace, name, cfg.WithDefaults())
}

// ValidateCreateKVStore checks CreateKVStore's names and configuration
// after WithDefaults: 1..MaxKVHistory history revisions.
func ValidateCreateKVStore(tenant, namespace, name string, cfg KVConfig) error {
	if err := validateNames(tenant, namespace, name); err != nil {
		return err
	}
	return validateKVConfig(cfg.WithDefaults())
}

// ValidateListResources checks ListResources' tenant and namespace ("":
// every namespace).
func ValidateListResources(tenant, namespace string) error {
	if err := ValidateName("tenant", tenant); err != nil {
		return err
	}
	if namespace == "" {
		return nil
	}
	return ValidateName("namespace", namespace)
}

// ValidateResource checks a complete resource definition, as the node
// stores it: the checks of its kind's create over its configuration as it
// is (defaults already applied: a zero where a default belongs is
// refused).
func ValidateResource(r *Resource) error {
	if r == nil {
		return Invalid("resource", "missing")
	}
	if err := validateNames(r.Tenant, r.Namespace, r.Name); err != nil {
		return err
	}
	switch {
	case r.Kind == KindStream && r.Stream != nil:
		return validateStreamConfig(*r.Stream)
	case r.Kind == KindQueue && r.Queue != nil:
		return validateQueueConfig(r.Tenant, r.Namespace, r.Name, *r.Queue)
	case r.Kind == KindKV && r.KV != nil:
		return validateKVConfig(*r.KV)
	}
	return Invalid("kind", "unknown kind %d or no configuration for it", r.Kind)
}

func validateStreamConfig(c StreamConfig) error {
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return Invalid("partitions", "%d is outside 1..%d", c.Partitions, MaxPartitions)
	}
	if c.MaxAge < 0 {
		return Invalid("max_age", "%v is negative", c.MaxAge)
	}
	if c.MaxBytes < 0 {
		return Invalid("max_bytes", "%d is negative", c.MaxBytes)
	}
	return nil
}

func validateQueueConfig(tenant, namespace, name string, c QueueConfig) error {
	if c.VisibilityTimeout <= 0 || c.VisibilityTimeout > MaxVisibility {
		return Invalid("visibility_timeout", "%v is outside (0, %v]", c.VisibilityTimeout, MaxVisibility)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxQueueAttempts {
		return Invalid("max_attempts", "%d is outside 1..%d", c.MaxAttempts, MaxQueueAttempts)
	}
	if c.MaxPayload < 1 || c.MaxPayload > MaxPayloadSize {
		return Invalid("max_payload", "%d is outside 1..%d", c.MaxPayload, MaxPayloadSize)
	}
	return ValidateDeadLetterQueue(tenant, namespace, name, c.DeadLetterQueue)
}

func validateKVConfig(c KVConfig) error {
	if c.HistoryRevisions < 1 || c.HistoryRevisions > MaxKVHistory {
		return Invalid("history_revisions", "%d is outside 1..%d", c.HistoryRevisions, MaxKVHistory)
	}
	return nil
}

// Quotas (QuotaManager).

// ValidateQuotaTenant checks the tenant of SetQuota and Quota: a tenant
// name, or DefaultQuotaTenant.
func ValidateQuotaTenant(tenant string) error {
	if tenant == DefaultQuotaTenant {
		return nil
	}
	return ValidateName("tenant", tenant)
}

// ValidateSetQuota checks SetQuota's tenant and limits: none negative, and
// MemoryBytes only on DefaultQuotaTenant (it is cluster-wide).
func ValidateSetQuota(tenant string, limits QuotaLimits) error {
	if err := ValidateQuotaTenant(tenant); err != nil {
		return err
	}
	if limits.MemoryBytes != nil && tenant != DefaultQuotaTenant {
		return Invalid(QuotaMemoryBytes, "is cluster-wide: set it on the cluster default %q, not on tenant %s", DefaultQuotaTenant, tenant)
	}
	for _, v := range []struct {
		name string
		v    *int64
	}{
		{QuotaStoredBytes, limits.StoredBytes}, {QuotaResources, limits.Resources},
		{QuotaPartitions, limits.Partitions}, {QuotaKVKeys, limits.KVKeys}, {QuotaQueueJobs, limits.QueueJobs},
		{QuotaMemoryBytes, limits.MemoryBytes},
	} {
		if v.v != nil && *v.v < 0 {
			return Invalid(v.name, "%d is negative (0 is unlimited)", *v.v)
		}
	}
	return nil
}

// maxAttempt is the largest attempt a receipt can carry (the wire's int32).
const maxAttempt = math.MaxInt32
