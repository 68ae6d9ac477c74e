// Package human formats numbers for people: the CLI's tables and the
// node's console.
package human

import "fmt"

// Bytes is n in B, KiB, MiB, GiB or TiB, one decimal above bytes.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for ; (v >= unit || v <= -unit) && i < 3; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}
