package checker

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestValidityJSON(t *testing.T) {
	for v, want := range map[Validity]string{Valid: "true", Invalid: "false", Unknown: `"unknown"`} {
		b, err := json.Marshal(v)
		if err != nil || string(b) != want {
			t.Errorf("marshal %s = %s, %v; want %s", v, b, err, want)
		}
		var back Validity
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("unmarshal %s = %s, %v", b, back, err)
		}
	}
	var v Validity
	if err := json.Unmarshal([]byte(`"maybe"`), &v); err == nil {
		t.Error("accepted \"maybe\"")
	}
	if Valid.ExitCode() != 0 || Invalid.ExitCode() != 1 || Unknown.ExitCode() != 2 {
		t.Error("exit codes are not 0 valid, 1 invalid, 2 unknown")
	}
}

func TestMerge(t *testing.T) {
	a, b := newResult(), newResult()
	for i := range MaxExamples + 5 {
		a.add("lost", i)
	}
	b.add("lost", "x")
	b.unknown("timed out")
	m := Merge(a, b)
	if m.Valid != Invalid || m.Anomalies["lost"] != MaxExamples+6 || len(m.Examples["lost"]) != MaxExamples || len(m.Notes) != 1 {
		t.Errorf("merge = %s, %d examples, notes %v", m, len(m.Examples["lost"]), m.Notes)
	}
	c := newResult()
	c.unknown("x")
	if got := Merge(newResult(), c).Valid; got != Unknown {
		t.Errorf("valid+unknown = %s", got)
	}
	if got := fmt.Sprint(Merge().Valid); got != "valid" {
		t.Errorf("empty merge = %s", got)
	}
}
