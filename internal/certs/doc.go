// Package certs loads the node's TLS material from PEM files into a
// reloadable Source, builds *tls.Config values that always use the current
// material, and generates a self-contained set of files for `certs init`.
//
// # Reload
//
// A Source holds one certificate/key pair and one CA pool, read together
// and swapped atomically by Reload; a Reload that fails on any file keeps
// the old material and names the file. Configs never copy the material:
// servers pick it per handshake (GetConfigForClient), clients present it
// through GetClientCertificate and verify against the current pool in
// VerifyConnection, so a reload takes effect for new connections while
// established ones keep theirs.
//
// Servers run Go's standard client verification (ClientAuth with ClientCAs
// set per handshake), so tls.ConnectionState.VerifiedChains is populated
// for the auth layer. Clients cannot have their roots swapped that way, so
// they set InsecureSkipVerify and verify the chain (and, when asked, the
// name) themselves in VerifyConnection against the current pool; that is
// the documented way to verify with custom roots, not a skipped check.
//
// Peers (raft, gossip's successors) verify the chain only: nodes dial each
// other at IPs and advertised names that are not known when certificates are
// made, and the peer CA signs nothing but node certificates, so a chain to
// it is the proof of membership.
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
