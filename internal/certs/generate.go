package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The files Generate writes, in its directory.
const (
	CAFile         = "ca.crt"
	CAKeyFile      = "ca.key"
	NodeCertFile   = "node.crt"
	NodeKeyFile    = "node.key"
	ClientCertFile = "client.crt"
	ClientKeyFile  = "client.key"
	PeerCAFile     = "peer-ca.crt"
	PeerCAKeyFile  = "peer-ca.key"
	PeerCertFile   = "peer.crt"
	PeerKeyFile    = "peer.key"
	GossipKeyFile  = "gossip.key"
)

// GeneratedFiles lists Generate's files in the order it writes them.
var GeneratedFiles = []string{
	CAFile, CAKeyFile, NodeCertFile, NodeKeyFile, ClientCertFile, ClientKeyFile,
	PeerCAFile, PeerCAKeyFile, PeerCertFile, PeerKeyFile, GossipKeyFile,
}

// ClientCN is the common name of the generated client certificate.
const ClientCN = "admin"

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// ErrExists is returned by Generate when one of its files exists already.
var ErrExists = errors.New("certs: file exists")

// Generate writes GeneratedFiles into dir (created 0700 if missing); hosts
// (DNS names or IPs) are added to localhost, 127.0.0.1 and ::1 in the node
// and peer certificates. It writes nothing if any of the files exists.
func Generate(dir string, hosts []string) error {
	var exist []string
	for _, f := range GeneratedFiles {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			exist = append(exist, filepath.Join(dir, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("certs: %w", err)
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("%w, not overwriting: %v", ErrExists, exist)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	sans := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)

	ca, caKey, err := newCA("FlowMesh CA", now)
	if err != nil {
		return err
	}
	node, nodeKey, err := newLeaf(ca, caKey, "flowmesh-node", sans, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, now)
	if err != nil {
		return err
	}
	client, clientKey, err := newLeaf(ca, caKey, ClientCN, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now)
	if err != nil {
		return err
	}
	peerCA, peerCAKey, err := newCA("FlowMesh peer CA", now)
	if err != nil {
		return err
	}
	// Nodes both dial and accept raft and forwarded gRPC with it.
	peer, peerKey, err := newLeaf(peerCA, peerCAKey, "flowmesh-peer", sans,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, now)
	if err != nil {
		return err
	}
	gossip := make([]byte, 32)
	if _, err := rand.Read(gossip); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CAFile, certPEM(ca), 0o644}, {CAKeyFile, keyPEM(caKey), 0o600},
		{NodeCertFile, certPEM(node), 0o644}, {NodeKeyFile, keyPEM(nodeKey), 0o600},
		{ClientCertFile, certPEM(client), 0o644}, {ClientKeyFile, keyPEM(clientKey), 0o600},
		{PeerCAFile, certPEM(peerCA), 0o644}, {PeerCAKeyFile, keyPEM(peerCAKey), 0o600},
		{PeerCertFile, certPEM(peer), 0o644}, {PeerKeyFile, keyPEM(peerKey), 0o600},
		{GossipKeyFile, []byte(base64.StdEncoding.EncodeToString(gossip) + "\n"), 0o600},
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// writeNew creates path with perm, failing if it exists (O_EXCL closes the
// race with the check above).
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	return f.Close()
}

func newCA(cn string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"FlowMesh"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, sans []string, usage []x509.ExtKeyUsage, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"FlowMesh"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	for _, h := range sans {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
