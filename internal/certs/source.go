package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// Files names the PEM files of a Source. Cert and Key go together (both or
// neither); CA may be empty when nothing is verified against this Source.
type Files struct {
	Cert string
	Key  string
	CA   string
}

// Source is a reloadable certificate/key pair and CA pool.
type Source struct {
	files Files
	cur   atomic.Pointer[material]
}

// material is one consistent read of a Source's files.
type material struct {
	cert *tls.Certificate // nil without Cert/Key
	cas  []*x509.Certificate
	pool *x509.CertPool // nil without CA
}

// Load reads f. Every error names the file it is about.
func Load(f Files) (*Source, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("certs: a certificate file and a key file go together")
	}
	if f.Cert == "" && f.CA == "" {
		return nil, errors.New("certs: no files given")
	}
	s := &Source{files: f}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads the files and swaps them in at once. On error the
// previous material stays in use.
func (s *Source) Reload() error {
	m, err := read(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(m)
	return nil
}

// Files returns the file names s reads.
func (s *Source) Files() Files { return s.files }

// Pool returns the current CA pool, nil when s has no CA file. Callers must
// not modify it.
func (s *Source) Pool() *x509.CertPool { return s.cur.Load().pool }

// Certificate returns the current certificate, nil when s has none.
func (s *Source) Certificate() *tls.Certificate { return s.cur.Load().cert }

func read(f Files) (*material, error) {
	m := &material{}
	if f.Cert != "" {
		certPEM, err := os.ReadFile(f.Cert)
		if err != nil {
			return nil, fmt.Errorf("certs: certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(f.Key)
		if err != nil {
			return nil, fmt.Errorf("certs: key: %w", err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The key's bytes never go into the message.
			return nil, fmt.Errorf("certs: certificate %s with key %s: %v", f.Cert, f.Key, err)
		}
		m.cert = &c
	}
	if f.CA != "" {
		cas, err := readCAs(f.CA)
		if err != nil {
			return nil, err
		}
		m.cas = cas
		m.pool = x509.NewCertPool()
		for _, c := range cas {
			m.pool.AddCert(c)
		}
	}
	return m, nil
}

// readCAs parses every CERTIFICATE block of path; it needs at least one.
func readCAs(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: CA: %w", err)
	}
	var cas []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: CA %s: %v", path, err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("certs: CA %s: no PEM certificate in it", path)
	}
	return cas, nil
}
