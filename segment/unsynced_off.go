//go:build !flowmesh_faults

package segment

// Without the flowmesh_faults build tag the tracking of unsynced writes
// (unsynced_faults.go) is empty functions the compiler drops.

func trackActive(*Log, *segment, bool) {}
func syncMark(*segment) int64          { return 0 }
func markSynced(*Log, *segment, int64) {}
func untrack(*Log)                     {}
