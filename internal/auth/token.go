package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// TokenPrefix starts every token NewToken makes, so secret scanners and
// people recognise one.
const TokenPrefix = "fm_"

// NewToken returns a fresh token: TokenPrefix and 32 random bytes in
// unpadded base64url.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go >= 1.24)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// AddToken makes a token for subject with grants, appends its hash to the
// token file at path (created with mode 0600 when missing) and returns the
// token; it is not stored anywhere. The file must parse before the entry
// is added.
func AddToken(path, subject string, grants []string) (string, error) {
	tok := NewToken()
	h := sha256.Sum256([]byte(tok))
	err := addEntry(path, subject, grants, func(gs []Grant) string { return formatLine(subject, h, gs) })
	if err != nil {
		return "", err
	}
	return tok, nil
}

// AddCert appends an entry that grants grants to a verified client
// certificate whose CN is subject, creating the file (0600) if needed.
func AddCert(path, subject string, grants []string) error {
	return addEntry(path, subject, grants, func(gs []Grant) string { return formatCertLine(subject, gs) })
}

// addEntry checks subject, grants and the file as it is, then appends the
// line format makes.
func addEntry(path, subject string, grants []string, format func([]Grant) string) error {
	if err := validSubject(subject); err != nil {
		return fmt.Errorf("auth: subject %v", err)
	}
	if len(grants) == 0 {
		return errors.New("auth: at least one grant is needed")
	}
	gs := make([]Grant, len(grants))
	for i, s := range grants {
		g, err := ParseGrant(s)
		if err != nil {
			return fmt.Errorf("auth: %v", err)
		}
		gs[i] = g
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if _, err := parseFile(path, data); err != nil {
		return err
	}
	line := format(gs)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return f.Close()
}
