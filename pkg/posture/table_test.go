package posture

import (
	"testing"

	"github.com/lmtokens/lmtokens/pkg/local/doccheck"
)

// TestGovernanceTableIsCurrent holds the README's rule table to the rules;
// make docs rewrites it.
func TestGovernanceTableIsCurrent(t *testing.T) {
	err := doccheck.Generated("../../README.md",
		"<!-- The table is generated from pkg/posture by `make docs`; TestGovernanceTableIsCurrent keeps it so. -->\n",
		"<!-- end of the generated rule table -->\n", Table())
	if err != nil {
		t.Error(err)
	}
}
