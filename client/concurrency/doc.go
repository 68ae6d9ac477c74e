// Package concurrency is a lock with fencing tokens on a FlowMesh KV store,
// shaped like etcd's clientv3/concurrency: a Session keeps its keys alive,
// a Mutex is acquired and released through it.
//
//	s, err := concurrency.NewSession(c, "t1/ns/locks", concurrency.WithTTL(30*time.Second))
//	defer s.Close()
//	m := concurrency.NewMutex(s, "jobs/compactor")
//	if err := m.Lock(ctx); err != nil { ... }
//	// Writes fenced by the token: refused once the lock is lost.
//	res, err := c.Txn(ctx, flowmesh.Txn{
//		Compares: []flowmesh.TxnCompare{m.IsOwner()},
//		Then:     []flowmesh.TxnOp{flowmesh.OpPut("t1/ns/state", "x", v, 0)},
//	})
//	// res.Succeeded false: another holder took over; do nothing more.
//	m.Unlock(ctx)
//
// A lock is one key holding the holder's session ID, put with the session's
// TTL only while absent (a transaction comparing its existence). Its
// fencing token is the key's create revision: every KV change takes the next
// revision of the cluster-wide KV revision, so a later holder's token is
// always greater. A holder that pauses past the TTL loses the key (the
// leader expires it); a compare on its token (IsOwner) then refuses its
// writes, which is the fencing that a lease alone cannot give. Waiters
// watch the key and try again when it is deleted or expires; they are not
// served in FIFO order.
//
// Watches on the lock's store see the transitions: a put when a session
// takes the lock (and one per keep-alive), a delete on Unlock, an expire
// when a holder lost it.
//
// Anything implementing flowmesh.KVManager and flowmesh.TxnManager works:
// the network client (*client.Client) and the embedded node's KVManager.
package concurrency
