// Package clip bounds free text (a token's note, an error) wherever
// lmtokens hands it to a system with a size limit: an event, a function's
// answer, a log line.
package clip

import "unicode/utf8"

// Marker ends a text that was cut.
const Marker = "…[truncated]"

// Text returns s cut to at most n bytes (at a character boundary) and
// ending in Marker when it was longer.
func Text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len(Marker), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Marker
}

// First keeps the first n items of a list, each bounded, and counts the
// rest. The result is never nil, so it encodes as [].
func First[T any](items []T, n int, bound func(T) T) ([]T, int) {
	out := []T{}
	for i, it := range items {
		if i == n {
			return out, len(items) - n
		}
		out = append(out, bound(it))
	}
	return out, 0
}
