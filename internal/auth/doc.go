// Package auth holds FlowMesh's credentials and grants: who a caller is
// (a bearer token or a verified client-certificate CN) and what it may do.
//
// # Grants
//
// A grant is "cluster-admin" or "TENANT[/NAMESPACE-PREFIX]:PERM" with PERM
// one of read, write, admin:
//
//   - read: get, list, read, subscribe, watch, stats in the scope;
//   - write: read plus every data mutation (append, enqueue, reserve, ack,
//     put, delete keys, commit offsets, purge, redrive);
//   - admin: write plus creating and deleting resources of the scope;
//   - cluster-admin: everything, in every tenant, and the cluster calls
//     (Join, Leave, RemovePeer, TransferLeader, snapshots, StateHash).
//
// The scope is a whole tenant, or the namespaces of a tenant whose name
// starts with NAMESPACE-PREFIX ("t1/orders" covers "orders" and
// "orders-eu"). Grants only add up: there is no deny.
//
// # Token file
//
// One entry per line; blank lines and lines starting with '#' are ignored.
// Fields are separated by spaces or tabs:
//
//	SUBJECT  CREDENTIAL  GRANT[,GRANT...]
//	alice    sha256:9f86d081884c7d65...  t1:write,t2/reports:read
//	ops      cert                        cluster-admin
//
// CREDENTIAL is "sha256:" and the hex SHA-256 of a token, or "cert": a
// client certificate verified by the gRPC server's client CA whose subject
// CN equals SUBJECT. The file never holds a token, only its hash: tokens are
// 32 random bytes (NewToken), so a plain SHA-256 resists inversion and
// needs no salt. A subject may have several entries (token rotation: add
// the new one, move clients, delete the old line, reload). Errors name the
// file, line and field.
//
// # Decisions
//
//   - Tokens are compared by hashing the presented token and comparing the
//     hash with every entry in constant time (crypto/subtle), so timing
//     tells nothing about which entry was close.
//   - Reload re-reads the file and swaps it in whole; on any error the old
//     entries stay in force (a typo in an edit must not lock everyone out
//     or open the node). The node calls Reload on SIGHUP.
//   - Tokens and their hashes never appear in errors or logs; the subject
//     does.
package auth
