package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// entry is one line of the token file.
type entry struct {
	subject string
	cert    bool     // authenticated by a client certificate CN, not a token
	hash    [32]byte // SHA-256 of the token when !cert
	grants  []Grant
}

const hashPrefix = "sha256:"

// parseFile parses a token file's contents; name is used in errors.
func parseFile(name string, data []byte) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		e, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("auth: %s:%d: %w", name, line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: %s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// parseLine never puts the credential field into an error: a user may have
// pasted a token where its hash belongs.
func parseLine(text string) (entry, error) {
	f := strings.Fields(text)
	if len(f) != 3 {
		return entry{}, fmt.Errorf("%d fields, want 3: SUBJECT CREDENTIAL GRANT[,GRANT...]", len(f))
	}
	var e entry
	if err := validSubject(f[0]); err != nil {
		return entry{}, fmt.Errorf("field 1 (subject): %v", err)
	}
	e.subject = f[0]
	switch cred := f[1]; {
	case cred == "cert":
		e.cert = true
	case strings.HasPrefix(cred, hashPrefix):
		h, err := hex.DecodeString(cred[len(hashPrefix):])
		if err != nil || len(h) != sha256.Size {
			return entry{}, fmt.Errorf("field 2 (credential): want %s and 64 hex digits", hashPrefix)
		}
		copy(e.hash[:], h)
	default:
		return entry{}, fmt.Errorf("field 2 (credential): want %s<hex> or cert (the file holds hashes, never tokens)", hashPrefix)
	}
	for _, s := range strings.Split(f[2], ",") {
		g, err := ParseGrant(s)
		if err != nil {
			return entry{}, fmt.Errorf("field 3 (grants): %v", err)
		}
		e.grants = append(e.grants, g)
	}
	return e, nil
}

// validSubject admits what fits in a line and in a certificate CN people
// use: letters, digits and "._@-", at most 128 bytes.
func validSubject(s string) error {
	if s == "" || len(s) > 128 {
		return fmt.Errorf("%q: want 1..128 characters", s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._@-", c)) {
			return fmt.Errorf("%q: character %q is not a letter, digit or one of ._@-", s, c)
		}
	}
	return nil
}

// formatLine is the file line of a token entry.
func formatLine(subject string, hash [32]byte, grants []Grant) string {
	return subject + " " + hashPrefix + hex.EncodeToString(hash[:]) + " " + joinGrants(grants) + "\n"
}

// formatCertLine is the entry of a client certificate with CN subject.
func formatCertLine(subject string, grants []Grant) string {
	return subject + " cert " + joinGrants(grants) + "\n"
}

func joinGrants(grants []Grant) string {
	gs := make([]string, len(grants))
	for i, g := range grants {
		gs[i] = g.String()
	}
	return strings.Join(gs, ",")
}
