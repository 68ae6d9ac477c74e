package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// Receipt converts a reservation receipt.
func Receipt(r flowmesh.Receipt) *pb.Receipt {
	return &pb.Receipt{JobId: r.JobID, Attempt: int32(r.Attempt)}
}

// FromReceipt converts it back; nil is the zero receipt.
func FromReceipt(p *pb.Receipt) flowmesh.Receipt {
	return flowmesh.Receipt{JobID: p.GetJobId(), Attempt: int(p.GetAttempt())}
}

// Job converts j; nil stays nil.
func Job(j *flowmesh.Job) *pb.Job {
	if j == nil {
		return nil
	}
	return &pb.Job{
		Id:           j.ID,
		Seq:          j.Seq,
		Payload:      j.Payload,
		Attempt:      int32(j.Attempt),
		EnqueueTime:  Time(j.EnqueuedAt),
		VisibleUntil: Time(j.VisibleUntil),
		Receipt:      Receipt(j.Receipt),
	}
}

// FromJob converts p; nil stays nil.
func FromJob(p *pb.Job) *flowmesh.Job {
	if p == nil {
		return nil
	}
	return &flowmesh.Job{
		ID:           p.GetId(),
		Seq:          p.GetSeq(),
		Payload:      p.GetPayload(),
		Attempt:      int(p.GetAttempt()),
		EnqueuedAt:   FromTime(p.GetEnqueueTime()),
		VisibleUntil: FromTime(p.GetVisibleUntil()),
		Receipt:      FromReceipt(p.GetReceipt()),
	}
}

// Jobs converts a slice of jobs.
func Jobs(js []flowmesh.Job) []*pb.Job {
	out := make([]*pb.Job, len(js))
	for i := range js {
		out[i] = Job(&js[i])
	}
	return out
}

// FromJobs converts them back; nil elements become zero jobs.
func FromJobs(ps []*pb.Job) []flowmesh.Job {
	out := make([]flowmesh.Job, len(ps))
	for i, p := range ps {
		if j := FromJob(p); j != nil {
			out[i] = *j
		}
	}
	return out
}

// QueueStats converts a queue's counters.
func QueueStats(s flowmesh.QueueStats) *pb.QueueStats {
	return &pb.QueueStats{
		Ready:          int64(s.Ready),
		Delayed:        int64(s.Delayed),
		InFlight:       int64(s.InFlight),
		Dead:           int64(s.Dead),
		OldestReadyAge: Duration(s.OldestReadyAge),
	}
}

// FromQueueStats converts them back; nil is the zero value.
func FromQueueStats(p *pb.QueueStats) flowmesh.QueueStats {
	return flowmesh.QueueStats{
		Ready:          int(p.GetReady()),
		Delayed:        int(p.GetDelayed()),
		InFlight:       int(p.GetInFlight()),
		Dead:           int(p.GetDead()),
		OldestReadyAge: FromDuration(p.GetOldestReadyAge()),
	}
}

// EnqueuedJobs converts the results of an EnqueueBatch.
func EnqueuedJobs(js []flowmesh.EnqueuedJob) []*pb.EnqueuedJob {
	out := make([]*pb.EnqueuedJob, len(js))
	for i, j := range js {
		out[i] = &pb.EnqueuedJob{JobId: j.JobID, Seq: j.Seq}
	}
	return out
}

// FromEnqueuedJobs converts them back; nil elements become zero results.
func FromEnqueuedJobs(ps []*pb.EnqueuedJob) []flowmesh.EnqueuedJob {
	out := make([]flowmesh.EnqueuedJob, len(ps))
	for i, p := range ps {
		out[i] = flowmesh.EnqueuedJob{JobID: p.GetJobId(), Seq: p.GetSeq()}
	}
	return out
}
