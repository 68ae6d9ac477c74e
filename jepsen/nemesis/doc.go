// Package nemesis plans the faults of a test: which fault, when, against
// which nodes. A Schedule is data, generated deterministically from a seed,
// so a run's faults can be printed before it starts, stored with its
// results, and replayed with the same seed. Executing faults (killing
// processes, cutting networks, shaping traffic) is the runner's job; it
// reads a Fault and acts on it at Start, and undoes it at Stop.
//
// Determinism: Generate draws only from a PCG generator (math/rand/v2's
// PCG, whose algorithm is fixed) through this package's own bounded
// draws, so a seed gives the same schedule on every platform and Go
// release. The golden test pins it.
package nemesis
