package settings

import (
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/doccheck"
)

// TestConfigurationTableIsCurrent holds infra/README.md's configuration
// table to the declarations; make docs rewrites it.
func TestConfigurationTableIsCurrent(t *testing.T) {
	err := doccheck.Generated("../../infra/README.md",
		"<!-- The table is generated from pkg/settings by `make docs`; TestConfigurationTableIsCurrent keeps it so. -->\n",
		"<!-- end of the generated table -->\n", Table())
	if err != nil {
		t.Error(err)
	}
}

func TestEachSettingDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All {
		if s.Env == "" || s.Doc == "" || seen[s.Env] {
			t.Errorf("%+v: every setting needs a name and a doc line, once", s)
		}
		seen[s.Env] = true
	}
	for _, s := range Policy {
		if !seen[s.Env] || s.Context == "" {
			t.Errorf("policy setting %s is not in All, or has no stack key", s.Env)
		}
	}
	// Defaults as the environment spells them are the typed ones.
	for _, w := range []Whole{RecoveryDays, RotationDays} {
		if n, err := w.Parse(w.Default); err != nil || n != w.Value {
			t.Errorf("%s: default %q reads as %d, %v; want %d", w.Env, w.Default, n, err, w.Value)
		}
	}
	for _, d := range []Duration{CredentialsTTL, RotationGrace, RotationDeleteAfter, CleanupOrphanGrace} {
		if x, err := time.ParseDuration(d.Default); err != nil || x != d.Value {
			t.Errorf("%s: default %q is not %v", d.Env, d.Default, d.Value)
		}
	}
}

func TestParsing(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int
		err  bool
	}{{"", 7, false}, {"30", 30, false}, {"6", 7, true}, {"31", 7, true}, {"x", 7, true}} {
		n, err := RecoveryDays.Parse(c.v)
		if n != c.want || (err != nil) != c.err {
			t.Errorf("RecoveryDays.Parse(%q) = %d, %v", c.v, n, err)
		}
	}
	if _, err := RecoveryDays.Parse("31"); err == nil || !strings.Contains(err.Error(), "TOKEN_SECRET_RECOVERY_DAYS") {
		t.Errorf("the error names the variable: %v", err)
	}
	if err := RecoveryDays.Check(6); err == nil || !strings.Contains(err.Error(), "recoveryDays") {
		t.Errorf("the stack's error names its setting: %v", err)
	}
	if _, err := CredentialsTTL.Parse("0s"); err == nil {
		t.Error("a TTL of 0 passed")
	}
	if d, err := RotationGrace.Parse("0s"); err != nil || d != 0 {
		t.Errorf("a grace of 0: %v %v", d, err)
	}
	if b, err := CleanupEnabled.Parse("yes"); err == nil || b {
		t.Error("yes passed as a bool")
	}
}
