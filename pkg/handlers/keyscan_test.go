package handlers_test

import (
	"strings"
	"testing"
)

// keyScanner finds any of many keys in a text in one pass: every key is
// indexed by its first window bytes, and the text's windows are looked up,
// so checking thousands of events against thousands of keys stays linear
// in the text (the suite's leak checks were quadratic).
type keyScanner struct {
	window int
	byHead map[string][]string
	short  []string // keys shorter than minWindow: checked one by one
}

const minWindow = 8

func newKeyScanner(keys []string) *keyScanner {
	s := &keyScanner{window: 1 << 30, byHead: map[string][]string{}}
	for _, k := range keys {
		if len(k) >= minWindow {
			s.window = min(s.window, len(k))
		}
	}
	s.window = min(s.window, 16)
	for _, k := range keys {
		switch {
		case k == "":
		case len(k) < minWindow:
			s.short = append(s.short, k)
		default:
			s.byHead[k[:s.window]] = append(s.byHead[k[:s.window]], k)
		}
	}
	return s
}

// find returns a key the text contains, if any.
func (s *keyScanner) find(text string) (string, bool) {
	for _, k := range s.short {
		if strings.Contains(text, k) {
			return k, true
		}
	}
	if len(s.byHead) == 0 {
		return "", false
	}
	for i := 0; i+s.window <= len(text); i++ {
		for _, k := range s.byHead[text[i:i+s.window]] {
			if strings.HasPrefix(text[i:], k) {
				return k, true
			}
		}
	}
	return "", false
}

// The scanner finds a key wherever it sits, among keys of other lengths,
// and nothing in a text without one: the leak checks rest on it.
func TestKeyScanner(t *testing.T) {
	keys := []string{"Op(~^{Key)=+[Secret]Value-0001", "lmb_abcdefghijklmnopqrstuvwxyz0123456789", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	s := newKeyScanner(keys)
	for _, k := range keys {
		for _, text := range []string{k, "x" + k, `{"note":"` + k + `"}`} {
			if got, ok := s.find(text); !ok || got != k {
				t.Errorf("%q in %q: got %q %v", k, text, got, ok)
			}
		}
	}
	for _, text := range []string{"", "Op(~^{Key)=+[Secret]Value-0002", "lmb_abcdefghijklmnopqrstuvwxyz012345678", "shor", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if k, ok := s.find(text); ok {
			t.Errorf("found %q in %q", k, text)
		}
	}
}
