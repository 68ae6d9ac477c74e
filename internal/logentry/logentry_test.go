package logentry

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	cases := []Entry{
		{Stamp: 0, Commands: [][]byte{}},
		{Stamp: 1, Commands: [][]byte{[]byte("a")}},
		{Stamp: math.MaxInt64, Commands: [][]byte{{}, []byte("bb"), bytes.Repeat([]byte("c"), 300)}},
		{Stamp: -5, Commands: [][]byte{make([]byte, 70000)}},
	}
	for _, want := range cases {
		b := Encode(want)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%d commands)): %v", len(want.Commands), err)
		}
		if got.Stamp != want.Stamp || len(got.Commands) != len(want.Commands) {
			t.Fatalf("got stamp %d, %d commands; want %d, %d", got.Stamp, len(got.Commands), want.Stamp, len(want.Commands))
		}
		size := 1 + 8 + uvarintLen(uint64(len(want.Commands)))
		for i := range want.Commands {
			if !bytes.Equal(got.Commands[i], want.Commands[i]) {
				t.Errorf("command %d differs", i)
			}
			size += CommandSize(want.Commands[i])
		}
		if size != len(b) {
			t.Errorf("encoded %d bytes, CommandSize accounting says %d", len(b), size)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := Encode(Entry{Stamp: 7, Commands: [][]byte{[]byte("abc")}})
	cases := map[string][]byte{
		"empty":        nil,
		"short":        good[:5],
		"version":      append([]byte{9}, good[1:]...),
		"truncated":    good[:len(good)-1],
		"trailing":     append(bytes.Clone(good), 0),
		"huge count":   append(bytes.Clone(good[:9]), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"bad varint":   append(bytes.Clone(good[:9]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"long command": append(bytes.Clone(good[:9]), 1, 0x10, 'a'),
	}
	for name, in := range cases {
		if _, err := Decode(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Entry{Stamp: 1, Commands: [][]byte{[]byte("a"), {}}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Decode(in)
		if err != nil {
			return
		}
		if out := Encode(e); !bytes.Equal(out, in) {
			// Non-minimal varints decode but re-encode shorter; anything
			// else must round-trip exactly.
			e2, err := Decode(out)
			if err != nil || e2.Stamp != e.Stamp || len(e2.Commands) != len(e.Commands) {
				t.Fatalf("re-encoding a decoded entry changed it: %v", err)
			}
		}
	})
}
