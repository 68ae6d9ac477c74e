package flowmesh

import (
	"net"
	"strconv"
	"strings"
)

// ValidateAddr checks a "host:port" address a caller gives (a node to
// join): a host, and a port in 1..65535. A host of digits and dots must be
// an IPv4 address ("256.1.1.1" is not).
func ValidateAddr(field, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Invalid(field, "%s is not host:port", Quote(addr))
	}
	if host == "" {
		return Invalid(field, "%s has no host", Quote(addr))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return Invalid(field, "%s: port %s is not in 1..65535", Quote(addr), Quote(port))
	}
	if strings.Trim(host, "0123456789.") == "" && net.ParseIP(host) == nil {
		return Invalid(field, "%s: host %s is not an IPv4 address", Quote(addr), Quote(host))
	}
	return nil
}
