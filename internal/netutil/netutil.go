// Package netutil holds small address helpers shared by config and the
// registry backends.
package netutil

import (
	"net"
	"strings"
)

// IsLoopback reports whether host (with an optional port) is a loopback
// address or "localhost".
func IsLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
