package rpc

// HasAccessRule reports whether the authorization table has full method.
func HasAccessRule(full string) bool { _, ok := methods[full]; return ok }

// IsOpenMethod reports whether full needs no credential.
func IsOpenMethod(full string) bool { return openMethod(full) }
