// Package httpfault breaks HTTP answers on purpose, for the local stand-ins'
// fault injection.
package httpfault

import (
	"net"
	"net/http"
)

// Drop closes the client's connection without an answer (an RST, not a
// clean close), as a crashed or partitioned server would.
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
