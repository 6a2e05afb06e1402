package posture

import (
	"os"
	"strings"
	"testing"
)

const (
	readme   = "../../README.md"
	tableTop = "<!-- The table is generated from pkg/posture by `make docs`; TestGovernanceTableIsCurrent keeps it so. -->\n"
	tableEnd = "<!-- end of the generated rule table -->\n"
)

// TestGovernanceTableIsCurrent holds the README's rule table to the rules;
// LMTOKENS_UPDATE_DOCS=1 (make docs) rewrites it.
func TestGovernanceTableIsCurrent(t *testing.T) {
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(doc), tableTop)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok || !ok2 {
		t.Fatalf("%s has no generated rule table between %q and %q", readme, tableTop, tableEnd)
	}
	want := before + tableTop + Table() + tableEnd + after
	if want == string(doc) {
		return
	}
	if os.Getenv("LMTOKENS_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's rule table is not what pkg/posture declares: run make docs", readme)
}
