package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		in string
		n  int
	}{{strings.Repeat("é", 1000), 101}, {strings.Repeat("a", 50), 20}, {"short", 3}} {
		got := Text(c.in, c.n)
		if len(got) > max(c.n, len(Marker)) || !strings.HasSuffix(got, Marker) || !utf8.ValidString(got) {
			t.Errorf("Text(%d bytes, %d) = %q", len(c.in), c.n, got)
		}
	}
	if Text("fits", 4) != "fits" {
		t.Error("a text that fits was changed")
	}
	got, omitted := First([]int{1, 2, 3}, 2, func(i int) int { return i * 10 })
	if len(got) != 2 || got[1] != 20 || omitted != 1 {
		t.Errorf("First: %v %d", got, omitted)
	}
	if got, _ := First[int](nil, 2, nil); got == nil {
		t.Error("First of nil is nil")
	}
}
