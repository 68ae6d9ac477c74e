package checker

import (
	"encoding/json"
	"fmt"
	"sort"
)

// MaxExamples is how many examples a Result keeps per anomaly.
const MaxExamples = 32

// Validity is a check's verdict. In JSON it is true, false or "unknown",
// as in Jepsen's :valid?.
type Validity int

const (
	Valid Validity = iota
	Invalid
	// Unknown: the checker could not decide (e.g. porcupine ran out of time).
	Unknown
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// ExitCode is the runner's exit status for v: 0 valid, 1 invalid, 2 unknown.
func (v Validity) ExitCode() int { return int(v) }

// Merge is the verdict of two checks together: invalid wins over unknown,
// which wins over valid.
func (v Validity) Merge(w Validity) Validity {
	switch {
	case v == Invalid || w == Invalid:
		return Invalid
	case v == Unknown || w == Unknown:
		return Unknown
	}
	return Valid
}

func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("checker: validity %s is not true, false or \"unknown\"", b)
	}
	return nil
}

// Result is a checker's verdict with its evidence.
type Result struct {
	Valid Validity `json:"valid"`
	// Anomalies counts each anomaly found, by name.
	Anomalies map[string]int `json:"anomalies"`
	// Examples holds up to MaxExamples instances of each anomaly.
	Examples map[string][]any `json:"examples,omitempty"`
	// Notes explains an Unknown verdict or other things a reader should know.
	Notes []string `json:"notes,omitempty"`
	// Stats are counts that help read the result (ops by type, etc.).
	Stats map[string]int `json:"stats,omitempty"`
}

func newResult() Result {
	return Result{Anomalies: map[string]int{}, Examples: map[string][]any{}, Stats: map[string]int{}}
}

// add records one instance of anomaly and makes the result invalid.
func (r *Result) add(anomaly string, example any) {
	r.Anomalies[anomaly]++
	if len(r.Examples[anomaly]) < MaxExamples {
		r.Examples[anomaly] = append(r.Examples[anomaly], example)
	}
	r.Valid = Invalid
}

// unknown marks the result undecided (unless it is already invalid).
func (r *Result) unknown(note string) {
	r.Valid = r.Valid.Merge(Unknown)
	r.Notes = append(r.Notes, note)
}

// AnomalyNames returns the anomalies found, sorted.
func (r Result) AnomalyNames() []string {
	names := make([]string, 0, len(r.Anomalies))
	for n, c := range r.Anomalies {
		if c > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Merge combines results of checks of the same test: counts add, examples
// concatenate up to MaxExamples, the verdict is the worse.
func Merge(rs ...Result) Result {
	out := newResult()
	for _, r := range rs {
		out.Valid = out.Valid.Merge(r.Valid)
		for n, c := range r.Anomalies {
			out.Anomalies[n] += c
		}
		for n, ex := range r.Examples {
			room := MaxExamples - len(out.Examples[n])
			out.Examples[n] = append(out.Examples[n], ex[:min(room, len(ex))]...)
		}
		for n, c := range r.Stats {
			out.Stats[n] += c
		}
		out.Notes = append(out.Notes, r.Notes...)
	}
	return out
}

// String is a one-line summary.
func (r Result) String() string {
	b, _ := json.Marshal(r.Anomalies)
	return fmt.Sprintf("%s %s", r.Valid, b)
}
