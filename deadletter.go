package flowmesh

// ValidateDeadLetterQueue checks a queue's dead-letter queue: "" (dead jobs
// stay in the queue, marked dead), or the path of another queue of the SAME
// tenant. A tenant is the unit of isolation, so a queue of tenant A must not
// push its dead jobs into tenant B. The embedded node, the gRPC server, the
// client and the FSM (at apply) all call this one check, so a bad
// dead_letter_queue fails the same way wherever it is caught, with
// authentication on or off.
func ValidateDeadLetterQueue(tenant, namespace, name, dlq string) error {
	if dlq == "" {
		return nil
	}
	t, ns, n, err := ParsePath(dlq)
	if err != nil {
		return Invalid("dead_letter_queue", "%v", err)
	}
	if t != tenant {
		return Invalid("dead_letter_queue", "%q is in tenant %q, not in the queue's tenant %q", dlq, t, tenant)
	}
	if ns == namespace && n == name {
		return Invalid("dead_letter_queue", "a queue cannot be its own dead-letter queue")
	}
	return nil
}
