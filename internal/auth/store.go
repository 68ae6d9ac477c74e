package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"os"
	"sync"
)

// Store is a token file loaded in memory. It is safe for concurrent use;
// Reload swaps in the file's current contents.
type Store struct {
	path string

	mu      sync.RWMutex
	entries []entry
}

// Open loads the token file at path.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the file the store reads.
func (s *Store) Path() string { return s.path }

// Reload re-reads the file. On error the entries loaded before stay in
// force and the error says what is wrong with the file.
func (s *Store) Reload() error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	entries, err := parseFile(s.path, data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.entries = entries
	s.mu.Unlock()
	return nil
}

// Len is the number of entries.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Authenticate returns the identity of the entry whose hash is the
// token's. Every entry is compared, in constant time.
func (s *Store) Authenticate(token string) (Identity, bool) {
	if token == "" {
		return Identity{}, false
	}
	h := sha256.Sum256([]byte(token))
	s.mu.RLock()
	defer s.mu.RUnlock()
	found := -1
	for i := range s.entries {
		e := &s.entries[i]
		if subtle.ConstantTimeCompare(e.hash[:], h[:])&boolInt(!e.cert) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, false
	}
	e := s.entries[found]
	return Identity{Subject: e.subject, Grants: append([]Grant(nil), e.grants...)}, true
}

// Cert returns the identity of a client whose verified certificate has
// subject CN cn: the grants of every "cert" entry for that subject.
func (s *Store) Cert(cn string) (Identity, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id := Identity{Subject: cn}
	ok := false
	for _, e := range s.entries {
		if e.cert && e.subject == cn {
			id.Grants = append(id.Grants, e.grants...)
			ok = true
		}
	}
	return id, ok
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
