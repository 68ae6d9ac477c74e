package auth

import (
	"fmt"
	"strings"

	"github.com/flowmesh/flowmesh"
)

// Perm is what a grant allows in its scope; each level implies the ones
// below it.
type Perm uint8

const (
	PermNone  Perm = iota
	PermRead       // read resources and their data
	PermWrite      // plus mutate data
	PermAdmin      // plus create and delete resources (admin of the tenant)
)

func (p Perm) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermAdmin:
		return "admin"
	}
	return "none"
}

// ClusterAdmin is the grant that allows everything.
const ClusterAdmin = "cluster-admin"

// Grant is one permission: Perm in Tenant (namespaces starting with
// NamespacePrefix, or all when it is ""), or everything when Cluster.
type Grant struct {
	Cluster         bool
	Tenant          string
	NamespacePrefix string
	Perm            Perm
}

// ParseGrant parses "cluster-admin" or "TENANT[/NAMESPACE-PREFIX]:PERM".
func ParseGrant(s string) (Grant, error) {
	if s == ClusterAdmin {
		return Grant{Cluster: true, Perm: PermAdmin}, nil
	}
	scope, perm, ok := strings.Cut(s, ":")
	if !ok {
		return Grant{}, fmt.Errorf("grant %q: want %s or TENANT[/NAMESPACE-PREFIX]:read|write|admin", s, ClusterAdmin)
	}
	var g Grant
	switch perm {
	case "read":
		g.Perm = PermRead
	case "write":
		g.Perm = PermWrite
	case "admin":
		g.Perm = PermAdmin
	default:
		return Grant{}, fmt.Errorf("grant %q: permission %q is not read, write or admin", s, perm)
	}
	tenant, prefix, hasPrefix := strings.Cut(scope, "/")
	if err := flowmesh.ValidateName("tenant", tenant); err != nil {
		return Grant{}, fmt.Errorf("grant %q: %v", s, err)
	}
	if hasPrefix {
		if err := validPrefix(prefix); err != nil {
			return Grant{}, fmt.Errorf("grant %q: %v", s, err)
		}
	}
	g.Tenant, g.NamespacePrefix = tenant, prefix
	return g, nil
}

// validPrefix checks a namespace prefix: the start of a valid name.
func validPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("namespace prefix after '/' is empty (leave out the '/' for the whole tenant)")
	}
	if err := flowmesh.ValidateName("namespace prefix", p); err != nil {
		return err
	}
	return nil
}

func (g Grant) String() string {
	if g.Cluster {
		return ClusterAdmin
	}
	scope := g.Tenant
	if g.NamespacePrefix != "" {
		scope += "/" + g.NamespacePrefix
	}
	return scope + ":" + g.Perm.String()
}

// covers reports whether g allows p on namespace of tenant; namespace ""
// asks for the whole tenant, which a namespace-prefix grant does not cover.
func (g Grant) covers(p Perm, tenant, namespace string) bool {
	if g.Cluster {
		return true
	}
	if g.Tenant != tenant || g.Perm < p {
		return false
	}
	if g.NamespacePrefix == "" {
		return true
	}
	return namespace != "" && strings.HasPrefix(namespace, g.NamespacePrefix)
}

// Identity is an authenticated caller: its subject and grants.
type Identity struct {
	Subject string
	Grants  []Grant
}

// Node is the identity of a cluster node (a caller presenting a peer
// certificate and asserting no subject): it may do everything.
func Node() Identity {
	return Identity{Subject: "node", Grants: []Grant{{Cluster: true, Perm: PermAdmin}}}
}

// Allows reports whether id may do p on namespace of tenant; namespace ""
// asks for the whole tenant.
func (id Identity) Allows(p Perm, tenant, namespace string) bool {
	for _, g := range id.Grants {
		if g.covers(p, tenant, namespace) {
			return true
		}
	}
	return false
}

// AllowsSome reports whether id may do p on at least one namespace of
// tenant (a listing then shows only those).
func (id Identity) AllowsSome(p Perm, tenant string) bool {
	for _, g := range id.Grants {
		if g.Cluster || g.Tenant == tenant && g.Perm >= p {
			return true
		}
	}
	return false
}

// IsClusterAdmin reports whether id holds cluster-admin.
func (id Identity) IsClusterAdmin() bool {
	for _, g := range id.Grants {
		if g.Cluster {
			return true
		}
	}
	return false
}
