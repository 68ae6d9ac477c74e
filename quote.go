package flowmesh

import (
	"strconv"
	"unicode/utf8"
)

// MaxQuotedInput is how many bytes of a caller's input an error message
// quotes; longer input is cut (on a character boundary) and its length
// given, so a 1 MiB path does not come back as a 1 MiB error.
const MaxQuotedInput = 128

// MaxErrorReason bounds the reason of an InvalidArgumentError, whatever
// it quotes.
const MaxErrorReason = 1024

// Quote quotes s for an error message, like %q, cut to MaxQuotedInput bytes.
func Quote(s string) string {
	if len(s) <= MaxQuotedInput {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s, MaxQuotedInput)) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// cut returns at most n bytes of s, ending on a UTF-8 character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
