package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGrant(t *testing.T) {
	cases := []struct {
		in, want string // want "" = error
	}{
		{"cluster-admin", "cluster-admin"},
		{"t1:read", "t1:read"},
		{"t1:write", "t1:write"},
		{"t1:admin", "t1:admin"},
		{"t1/orders:read", "t1/orders:read"},
		{"t1", ""},
		{"t1:owner", ""},
		{"t1/:read", ""},
		{"-t:read", ""},
		{"t1/a/b:read", ""},
		{":read", ""},
	}
	for _, tc := range cases {
		g, err := ParseGrant(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseGrant(%q) = %v, want an error", tc.in, g)
			}
			continue
		}
		if err != nil || g.String() != tc.want {
			t.Errorf("ParseGrant(%q) = %v, %v; want %s", tc.in, g, err, tc.want)
		}
	}
}

// TestAllows walks every permission against every kind of scope.
func TestAllows(t *testing.T) {
	perms := []Perm{PermRead, PermWrite, PermAdmin}
	cases := []struct {
		grant     string
		tenant    string
		namespace string
		max       Perm // highest permission allowed; PermNone: nothing
	}{
		{"cluster-admin", "t1", "ns", PermAdmin},
		{"cluster-admin", "t2", "", PermAdmin},
		{"t1:read", "t1", "ns", PermRead},
		{"t1:read", "t1", "", PermRead},
		{"t1:write", "t1", "ns", PermWrite},
		{"t1:admin", "t1", "ns", PermAdmin},
		{"t1:admin", "t2", "ns", PermNone},
		{"t1:admin", "t10", "ns", PermNone},
		{"t1/orders:write", "t1", "orders", PermWrite},
		{"t1/orders:write", "t1", "orders-eu", PermWrite},
		{"t1/orders:write", "t1", "billing", PermNone},
		{"t1/orders:admin", "t1", "", PermNone}, // whole tenant: not covered by a prefix
		{"t1/orders:admin", "t2", "orders", PermNone},
	}
	for _, tc := range cases {
		g, err := ParseGrant(tc.grant)
		if err != nil {
			t.Fatal(err)
		}
		id := Identity{Subject: "s", Grants: []Grant{g}}
		for _, p := range perms {
			want := p <= tc.max && tc.max != PermNone
			if got := id.Allows(p, tc.tenant, tc.namespace); got != want {
				t.Errorf("%s: Allows(%s, %q, %q) = %v, want %v", tc.grant, p, tc.tenant, tc.namespace, got, want)
			}
		}
	}
	id := Identity{Grants: []Grant{mustGrant(t, "t1/orders:read")}}
	if !id.AllowsSome(PermRead, "t1") || id.AllowsSome(PermWrite, "t1") || id.AllowsSome(PermRead, "t2") {
		t.Error("AllowsSome is wrong for t1/orders:read")
	}
	if id.IsClusterAdmin() || !Node().IsClusterAdmin() {
		t.Error("IsClusterAdmin is wrong")
	}
}

func mustGrant(t *testing.T, s string) Grant {
	t.Helper()
	g, err := ParseGrant(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseFileErrors(t *testing.T) {
	h := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		name, file, want string
	}{
		{"fields", "a " + h + "\n", "f:1: 2 fields, want 3"},
		{"subject", "# c\n\nbad/subj " + h + " t:read\n", "f:3: field 1 (subject)"},
		{"credential", "a plain-token t:read\n", "f:1: field 2 (credential)"},
		{"short hash", "a sha256:abcd t:read\n", "f:1: field 2 (credential)"},
		{"grant", "a " + h + " t:read,t:own\n", `f:1: field 3 (grants): grant "t:own"`},
		{"second line", "a cert t:read\nb cert\n", "f:2:"},
	}
	for _, tc := range cases {
		_, err := parseFile("f", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "plain-token") {
			t.Errorf("%s: error %q shows the credential field", tc.name, err)
		}
	}
}

func TestAddTokenStoresOnlyHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	tok, err := AddToken(path, "alice", []string{"t1:write", "t2/ns:read"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) < 40 {
		t.Fatalf("token %q is not a fresh high-entropy token", tok)
	}
	tok2, err := AddToken(path, "ops", []string{"cluster-admin"})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	h := sha256.Sum256([]byte(tok))
	if strings.Contains(string(data), tok) || strings.Contains(string(data), tok[len(TokenPrefix):]) || strings.Contains(string(data), tok2) {
		t.Fatalf("the file holds a token:\n%s", data)
	}
	if !strings.Contains(string(data), hex.EncodeToString(h[:])) {
		t.Fatalf("the file does not hold the token's hash:\n%s", data)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := s.Authenticate(tok)
	if !ok || id.Subject != "alice" || !id.Allows(PermWrite, "t1", "x") || id.Allows(PermWrite, "t2", "ns") || !id.Allows(PermRead, "t2", "ns") {
		t.Errorf("Authenticate(alice's token) = %+v, %v", id, ok)
	}
	if id, ok := s.Authenticate(tok2); !ok || !id.IsClusterAdmin() {
		t.Errorf("Authenticate(ops's token) = %+v, %v", id, ok)
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], hex.EncodeToString(h[:])} {
		if id, ok := s.Authenticate(bad); ok {
			t.Errorf("Authenticate(%q) = %+v, want refused", bad, id)
		}
	}
	if _, ok := s.Cert("alice"); ok {
		t.Error("a token entry must not authenticate a certificate CN")
	}
}

func TestAddTokenRefusesBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if _, err := AddToken(path, "a b", []string{"t:read"}); err == nil {
		t.Error("a subject with a space was accepted")
	}
	if _, err := AddToken(path, "a", nil); err == nil {
		t.Error("no grants was accepted")
	}
	if _, err := AddToken(path, "a", []string{"t:own"}); err == nil {
		t.Error("a bad grant was accepted")
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := AddToken(path, "a", []string{"t:read"}); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("appending to a broken file: %v, want the file's error", err)
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	tok, err := AddToken(path, "alice", []string{"t1:read"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("broken line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if _, ok := s.Authenticate(tok); !ok {
		t.Fatal("a failed Reload dropped the old entries")
	}
	if err := os.WriteFile(path, []byte("ops cert cluster-admin\nops cert t1:read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authenticate(tok); ok {
		t.Error("a removed token still authenticates after Reload")
	}
	if id, ok := s.Cert("ops"); !ok || !id.IsClusterAdmin() || len(id.Grants) != 2 {
		t.Errorf("Cert(ops) = %+v, %v", id, ok)
	}
	if _, ok := s.Cert("nobody"); ok {
		t.Error("Cert(nobody) authenticated")
	}
}

func TestAddCert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth")
	if err := AddCert(path, "admin", []string{"cluster-admin"}); err != nil {
		t.Fatal(err)
	}
	if err := AddCert(path, "reader", []string{"t1:read"}); err != nil {
		t.Fatal(err)
	}
	if err := AddCert(path, "bad subject", []string{"t1:read"}); err == nil {
		t.Error("a subject with a space was accepted")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := s.Cert("admin"); !ok || !id.IsClusterAdmin() {
		t.Errorf("Cert(admin) = %+v, %v; want cluster-admin", id, ok)
	}
	if id, ok := s.Cert("reader"); !ok || id.IsClusterAdmin() || !id.Allows(PermRead, "t1", "ns") || id.Allows(PermWrite, "t1", "ns") {
		t.Errorf("Cert(reader) = %+v, %v; want t1:read", id, ok)
	}
	if _, ok := s.Authenticate("admin"); ok {
		t.Error("a certificate entry authenticated a token")
	}
}
