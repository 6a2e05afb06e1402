// Package envlist reads list-valued settings from the environment.
package envlist

import "strings"

// Split returns the comma-separated items of v, trimmed, empty ones left out.
func Split(v string) []string {
	out := []string{}
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
