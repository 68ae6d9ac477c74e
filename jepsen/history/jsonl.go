package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// maxLine bounds one encoded op; a final read of a whole partition is the
// largest and stays well below it in tests of the sizes the runner makes.
const maxLine = 64 << 20

// WriteJSONL writes ops to w, one JSON object per line.
func WriteJSONL(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("history: encode op %d: %w", ops[i].Index, err)
		}
	}
	return bw.Flush()
}

// ReadJSONL reads a history written by WriteJSONL. Blank lines are skipped;
// unknown fields are ignored so newer histories still load.
func ReadJSONL(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var ops []Op
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("history: line %d: %w", line, err)
		}
		if err := op.validate(); err != nil {
			return nil, fmt.Errorf("history: line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history: line %d: %w", line+1, err)
	}
	return ops, nil
}

func (o Op) validate() error {
	switch o.Type {
	case Invoke, OK, Fail, Info:
	default:
		return fmt.Errorf("op %d: unknown type %q", o.Index, o.Type)
	}
	if o.F == "" {
		return fmt.Errorf("op %d: no f", o.Index)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
