//go:build !flowmesh_faults

package faults

import "time"

// Enabled is always false without the flowmesh_faults build tag.
func Enabled(string) bool { return false }

// ClockOffset is always zero without the flowmesh_faults build tag.
func ClockOffset() time.Duration { return 0 }

// Clock returns now unchanged without the flowmesh_faults build tag.
func Clock(now func() time.Time) func() time.Time { return now }

// CrashBeforeApply is nil without the flowmesh_faults build tag.
func CrashBeforeApply() func() { return nil }

// OnCrashLoseUnsynced does nothing without the flowmesh_faults build tag.
func OnCrashLoseUnsynced(string, func() string) {}

// Crashing reports whether a lose-unsynced crash is under way: never.
func Crashing() bool { return false }
