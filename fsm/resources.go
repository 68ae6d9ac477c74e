package fsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// ValidateResource checks a resource definition with
// flowmesh.ValidateResource (and a queue's partitions with
// flowmesh.ValidateCreateQueue's check), so Apply and a checkpoint refuse
// what the node refuses before proposing, with the same error. The log is
// the authority: Apply checks again.
func ValidateResource(m *fsmpb.Resource) error {
	if m == nil {
		return flowmesh.ValidateResource(nil)
	}
	r := resourceFromPB(m)
	if r.Kind == flowmesh.KindQueue && m.Partitions != 1 {
		if err := flowmesh.ValidateCreateQueue(m.Tenant, m.Namespace, m.Name, int(m.Partitions), *r.Queue); err != nil {
			return err
		}
	}
	return flowmesh.ValidateResource(r)
}

func (f *FSM) applyCreate(ac *applyCtx, m *fsmpb.Resource) (*Result, error) {
	if err := ValidateResource(m); err != nil {
		return nil, err
	}
	path := flowmesh.JoinPath(m.Tenant, m.Namespace, m.Name)
	if r := f.resources[path]; r != nil {
		return nil, fmt.Errorf("%w: %s %s", flowmesh.ErrAlreadyExists, flowmesh.Kind(r.meta.Kind), path)
	}
	if m.DeadLetterQueue != "" {
		switch _, err := f.lookup(m.DeadLetterQueue, flowmesh.KindQueue); {
		case errors.Is(err, flowmesh.ErrNotFound):
			return nil, flowmesh.Invalid("dead_letter_queue", "queue %s does not exist; create it first", flowmesh.Quote(m.DeadLetterQueue))
		case errors.Is(err, flowmesh.ErrWrongKind):
			return nil, flowmesh.Invalid("dead_letter_queue", "%s is not a queue", flowmesh.Quote(m.DeadLetterQueue))
		case err != nil:
			return nil, flowmesh.Invalid("dead_letter_queue", "%v", err)
		}
	}
	need := usage{Resources: 1, MemoryBytes: resourceMemory(0)}
	if flowmesh.Kind(m.Kind) == flowmesh.KindStream {
		need.Partitions = int64(m.Partitions)
		need.MemoryBytes = resourceMemory(int(m.Partitions))
	}
	if err := f.checkQuota(m.Tenant, need); err != nil {
		return nil, err
	}
	f.nextID++
	m = cloneResource(m)
	m.Id = f.nextID
	m.CreatedAt = ac.stamp
	m.Revision = ac.index
	dir := filepath.Join(f.cfg.Dir, resourcesDir, strconv.FormatUint(m.Id, 10))
	var r *resource
	if err := f.retryNoSpace(ac.index, fileNoSpace, func() error {
		if err := f.cfg.FS.RemoveAll(dir); err != nil {
			return err
		}
		var err error
		r, err = f.openResource(m, ac.index)
		return err
	}); err != nil {
		return nil, fatalError{err}
	}
	f.resources[path] = r
	f.attachUsage(r)
	return &Result{Resource: resourceFromPB(m)}, nil
}

func (f *FSM) applyDelete(ac *applyCtx, path string) (*Result, error) {
	r := f.resources[path]
	if r == nil {
		return nil, fmt.Errorf("%w: %s", flowmesh.ErrNotFound, path)
	}
	if err := f.writeStaged(ac.index); err != nil {
		return nil, fatalError{err}
	}
	if err := r.close(); err != nil {
		return nil, fatalError{err}
	}
	trash := filepath.Join(f.cfg.Dir, "trash", fmt.Sprintf("%d-%d", r.meta.Id, ac.index))
	if err := f.cfg.FS.Rename(r.dir, trash); err != nil {
		return nil, fatalError{err}
	}
	f.pendingTrash = append(f.pendingTrash, trashEntry{dir: trash, index: ac.index})
	for k := range f.groups {
		if k.path == path {
			f.chargeGroup(r, k, -1)
			delete(f.groups, k)
		}
	}
	f.detachUsage(r)
	delete(f.resources, path)
	return &Result{}, nil
}

// Resource returns the resource at path.
func (f *FSM) Resource(path string) (*flowmesh.Resource, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r := f.resources[path]
	if r == nil {
		return nil, fmt.Errorf("%w: %s", flowmesh.ErrNotFound, path)
	}
	return resourceFromPB(r.meta), nil
}

// Resources lists a tenant's resources (namespace "" = all), sorted by path.
func (f *FSM) Resources(tenant, namespace string) []*flowmesh.Resource {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*flowmesh.Resource
	for _, r := range f.resources {
		if r.meta.Tenant == tenant && (namespace == "" || r.meta.Namespace == namespace) {
			out = append(out, resourceFromPB(r.meta))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetPath() < out[j].GetPath() })
	return out
}

// AllResources lists every resource, sorted by path.
func (f *FSM) AllResources() []*flowmesh.Resource {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*flowmesh.Resource, 0, len(f.resources))
	for _, path := range f.sortedPaths() {
		out = append(out, resourceFromPB(f.resources[path].meta))
	}
	return out
}

func cloneResource(m *fsmpb.Resource) *fsmpb.Resource {
	return proto.Clone(m).(*fsmpb.Resource)
}

func ResourceToPB(r *flowmesh.Resource) *fsmpb.Resource {
	m := &fsmpb.Resource{Tenant: r.Tenant, Namespace: r.Namespace, Name: r.Name, Kind: int32(r.Kind),
		Revision: r.Revision}
	if !r.CreatedAt.IsZero() {
		m.CreatedAt = r.CreatedAt.UnixNano()
	}
	if s := r.Stream; s != nil {
		m.Partitions, m.MaxAge, m.MaxBytes = int32(s.Partitions), int64(s.MaxAge), s.MaxBytes
	}
	if q := r.Queue; q != nil {
		m.Partitions = 1
		m.VisibilityTimeout, m.MaxAttempts = int64(q.VisibilityTimeout), int32(q.MaxAttempts)
		m.DeadLetterQueue, m.MaxPayload = q.DeadLetterQueue, int32(q.MaxPayload)
	}
	if k := r.KV; k != nil {
		m.HistoryRevisions = int32(k.HistoryRevisions)
	}
	return m
}

func resourceFromPB(m *fsmpb.Resource) *flowmesh.Resource {
	r := &flowmesh.Resource{Tenant: m.Tenant, Namespace: m.Namespace, Name: m.Name, Kind: flowmesh.Kind(m.Kind),
		CreatedAt: time.Unix(0, m.CreatedAt).UTC(), Revision: m.Revision}
	switch r.Kind {
	case flowmesh.KindStream:
		r.Stream = &flowmesh.StreamConfig{Partitions: int(m.Partitions), MaxAge: time.Duration(m.MaxAge), MaxBytes: m.MaxBytes}
	case flowmesh.KindQueue:
		r.Queue = &flowmesh.QueueConfig{VisibilityTimeout: time.Duration(m.VisibilityTimeout), MaxAttempts: int(m.MaxAttempts),
			DeadLetterQueue: m.DeadLetterQueue, MaxPayload: int(m.MaxPayload)}
	case flowmesh.KindKV:
		r.KV = &flowmesh.KVConfig{HistoryRevisions: int(m.HistoryRevisions)}
	}
	return r
}
