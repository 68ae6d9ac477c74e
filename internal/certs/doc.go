// Package certs loads the node's TLS material from PEM files into a
// reloadable Source, builds *tls.Config values that always use the current
// material, and generates a self-contained set of files for `certs init`.
//
// # Reload
//
// A Source holds one certificate/key pair and one CA pool, read together
// and swapped atomically by Reload; a Reload that fails on any file keeps
// the old material and names the file. Configs never copy the material:
// servers pick it per handshake (GetConfigForClient) and clients present
// it through GetClientCertificate, so a reload takes effect for new
// connections while established ones keep theirs.
//
// Servers run Go's standard client verification (ClientAuth with ClientCAs
// set per handshake), so tls.ConnectionState.VerifiedChains is populated
// for the auth layer. A client config's RootCAs cannot change after it is
// built, so clients that check the server's name (clients, forwarding)
// get Go's standard verification against the pool at build time, and
// TransportCredentials builds a fresh config per gRPC connection for
// long-lived dialers; the name cannot be checked in VerifyConnection,
// because ConnectionState.ServerName is empty when an IP was dialled.
//
// Peers (raft) verify the chain only, in VerifyConnection against the pool
// current at each handshake (InsecureSkipVerify only turns off Go's own
// check, which this replaces): nodes dial each other at IPs and advertised
// names that are not known when certificates are made, and the peer CA
// signs nothing but node certificates, so a chain to it is the proof of
// membership.
//
// TLS 1.2 is the minimum; Go negotiates 1.3 whenever the other side has it.
//
// # Generated files
//
// Generate writes ECDSA P-256 keys (0600) and certificates (0644): a CA
// for clients and servers (ca.crt) with a server certificate (node.crt,
// SANs localhost, 127.0.0.1, ::1 and the given hosts) and a client
// certificate (client.crt, CN "admin"); a separate peer CA (peer-ca.crt)
// with one peer certificate (peer.crt, usable as client and server, same
// SANs) shared by the nodes of a local cluster; and a 32-byte gossip key
// (gossip.key, base64). CAs are valid 10 years, leaves 1 year. It never
// overwrites a file.
package certs
