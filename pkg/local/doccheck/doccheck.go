// Package doccheck compares what the code reads with what a document's
// table names, for the tests that keep the reference tables true.
package doccheck

import "sort"

// Compare returns the names read but not documented, and those documented
// but never read (ignored names count as neither), each sorted.
func Compare(read, documented, ignored map[string]bool) (undocumented, stale []string) {
	for k := range read {
		if !documented[k] && !ignored[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !read[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(stale)
	return undocumented, stale
}
