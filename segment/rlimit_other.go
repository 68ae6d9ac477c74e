//go:build !unix

package segment

// fileLimit assumes the common default where the limit cannot be read.
func fileLimit() int { return 1024 }
