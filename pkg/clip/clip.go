// Package clip bounds free text (a token's note, an error) wherever
// lmtokens hands it to a system with a size limit: an event, a function's
// answer, a log line.
package clip

import (
	"encoding/json"
	"unicode/utf8"
)

// Marker ends a text that was cut.
const Marker = "…[truncated]"

// Bounds every bounded place uses: a free text (a note, an error, a
// secret's name) keeps MaxText bytes, a portal's name MaxName.
const (
	MaxText = 1024
	MaxName = 256
)

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

// Within builds a value with at most n items per list, starting at n and
// halving n until its JSON is at most maxBytes (or n is 0): lists keep
// their first items, and the largest n that fits wins.
func Within[T any](maxBytes, n int, build func(n int) T) T {
	for {
		v := build(n)
		raw, _ := json.Marshal(v)
		if len(raw) <= maxBytes || n == 0 {
			return v
		}
		n = Halve(n, len(raw), maxBytes)
	}
}

// Halve is the next n to try after n items per list came to size bytes,
// over maxBytes: n halved, and halved again while, at this size per item,
// the result would still be far too large (each such try would only
// encode a large value again).
func Halve(n, size, maxBytes int) int {
	next := n / 2
	for next > 0 && float64(next)*float64(size)/float64(n) > 1.25*float64(maxBytes) {
		next /= 2
	}
	return next
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
