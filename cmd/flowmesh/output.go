package main

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// JSON output (-o json) follows one rule set, modelled on protojson with
// UseProtoNames:
//
//   - field names are snake_case, everywhere;
//   - bytes (payloads, KV values) are standard base64 with padding, as Go's
//     encoding/json writes a []byte; keys, IDs and header values are text;
//   - durations are strings of seconds with an "s" suffix ("1.5s", "604800s"),
//     readable by protojson and by Go's time.ParseDuration;
//   - timestamps are RFC 3339 strings in UTC with up to nine fractional digits;
//   - integers are JSON numbers (protojson quotes 64-bit ones; offsets and
//     revisions stay far below 2^53, so jq and JavaScript read them exactly);
//   - a field with no value (a key without a TTL has no expires_at) is left
//     out; zero numbers and "0s" are printed.
//
// bench is the one exception: its measurements are numbers with the unit in
// the field name (seconds, latency_ms), for plotting.

// jsonDuration formats d as protojson formats a google.protobuf.Duration.
func jsonDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	secs, nanos := int64(d/time.Second), int64(d%time.Second)
	if nanos == 0 {
		return sign + strconv.FormatInt(secs, 10) + "s"
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return fmt.Sprintf("%s%d.%ss", sign, secs, frac)
}

// jsonTime formats t as RFC 3339 in UTC; the zero time is "" (for omitempty).
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// nonNil makes an empty payload "" in JSON rather than null.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// payloadOut is how a command's text output shows payloads and values:
// --raw writes the bytes exactly and nothing else, --base64 shows them in
// standard base64; otherwise as text, quoted (Go syntax) in a table when
// they are not printable UTF-8.
type payloadOut struct {
	raw, b64 bool
}

// flags adds --base64 and, when withRaw, --raw.
func (p *payloadOut) flags(cmd *cobra.Command, withRaw bool) {
	if withRaw {
		cmd.Flags().BoolVar(&p.raw, "raw", false, "write only the payload bytes, exactly (no newline, no other fields)")
	}
	cmd.Flags().BoolVar(&p.b64, "base64", false, "show payloads in base64 (standard, padded)")
}

// check refuses combinations that cannot both hold.
func (p *payloadOut) check(a *app) error {
	switch {
	case p.raw && p.b64:
		return usagef("--raw and --base64: give one")
	case p.raw && a.output == "json":
		return usagef("--raw writes bytes, not JSON (%s json; JSON shows payloads in base64)", a.from("output"))
	}
	return nil
}

// cell is b as a table cell: base64 with --base64, else the text when it
// is printable UTF-8 without tabs or newlines, else Go-quoted.
func (p *payloadOut) cell(b []byte) string {
	if p.b64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	if printable(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// payloadIn decodes payloads given with --base64.
type payloadIn struct {
	b64 bool
}

func (p *payloadIn) flags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&p.b64, "base64", false, "the payload (argument, --file or stdin; with --lines each line) is base64: send the bytes it decodes to")
}

// decode returns b, decoded from base64 with --base64; what names the
// input in an error.
func (p *payloadIn) decode(b []byte, what string) ([]byte, error) {
	if !p.b64 {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if out, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return out, nil
		}
		return nil, usagef("--base64: %s is not base64: %v", what, err)
	}
	return out, nil
}
