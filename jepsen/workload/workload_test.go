package workload

import (
	"testing"
)

func TestKVKeysRetireAfterOpsPerKey(t *testing.T) {
	w := newKV(Config{Keys: 2, OpsPerKey: 3})
	p := NewProcess(0, nil, "n0", 1, &Env{})
	seen := map[string]int{}
	for range 12 {
		seen[w.key(p)]++
	}
	// Generations of 2*3 = 6 ops use keys k0,k1 then k2,k3.
	for k := range seen {
		if k != "k0" && k != "k1" && k != "k2" && k != "k3" {
			t.Errorf("unexpected key %s in %v", k, seen)
		}
	}
	if seen["k0"]+seen["k1"] != 6 || seen["k2"]+seen["k3"] != 6 {
		t.Errorf("keys per generation: %v", seen)
	}
}

func TestProcessesAreDeterministicAndValuesUnique(t *testing.T) {
	a, b := NewProcess(3, nil, "", 7, &Env{}), NewProcess(3, nil, "", 7, &Env{})
	c := NewProcess(4, nil, "", 7, &Env{})
	same, differ := true, false
	for range 20 {
		x, y, z := a.Rand.IntN(1000), b.Rand.IntN(1000), c.Rand.IntN(1000)
		same = same && x == y
		differ = differ || x != z
	}
	if !same || !differ {
		t.Errorf("same seed and process must give the same choices (%v), other processes others (%v)", same, differ)
	}
	vals := map[string]bool{}
	for _, p := range []*Process{a, c} {
		for range 100 {
			v := p.Value()
			if vals[v] {
				t.Fatalf("value %s written twice", v)
			}
			vals[v] = true
		}
	}
}
