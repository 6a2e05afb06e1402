package tokens

import (
	"strings"
	"testing"
	"time"
)

// Each setting's parse, default and range, and the error that names it.
func TestConfigFrom(t *testing.T) {
	base := map[string]string{"LM_CREDENTIALS_SECRET": "lmtokens/credentials"}
	from := func(extra map[string]string) (Config, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return ConfigFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	c, err := from(nil)
	if err != nil || c.SecretPrefix != "logicmonitor/api-tokens/" || c.PortalsPrefix != DefaultPortalsPrefix || c.RecoveryDays != 7 ||
		c.CredentialsTTL != 5*time.Minute || strings.Join(c.ProtectedRoles, ",") != "administrator" || c.Cleanup.Policies["disable"].WarnDays != 14 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if c, _ := from(map[string]string{"PROTECTED_ROLES": ""}); len(c.ProtectedRoles) != 0 {
		t.Errorf("PROTECTED_ROLES set empty protects %v", c.ProtectedRoles)
	}
	// An API function ignores a cleanup policy it never runs.
	if _, err := from(map[string]string{"CLEANUP_UNUSED_DAYS": "0"}); err != nil {
		t.Errorf("an API function refused a cleanup policy: %v", err)
	}
	for _, bad := range []struct{ name, value string }{
		{"LM_CREDENTIALS_SECRET", ""},
		{"TOKEN_SECRET_PREFIX", "bad prefix!"},
		{"TOKEN_SECRET_PREFIX", strings.Repeat("p", 400)},
		{"LM_PORTALS_PREFIX", "spaces are not allowed"},
		{"TOKEN_SECRET_RECOVERY_DAYS", "6"},
		{"TOKEN_SECRET_RECOVERY_DAYS", "31"},
		{"PROTECTED_ADMIN_IDS", "2,02"},
		{"LM_ALLOW_HTTP_LOOPBACK", "sometimes"},
		{"LM_CREDENTIALS_TTL", "-1m"},
		{"CLEANUP_ENABLED", "yes please"},
		{"CLEANUP_UNUSED_DAYS", "0"},
		{"CLEANUP_WARN_DAYS", "366"},
		{"CLEANUP_MAX_ACTIONS", "many"},
		{"CLEANUP_ORPHAN_GRACE", "a week"},
		{"TOKEN_ROTATION_DAYS", "400"},
		{"ROTATION_GRACE", "soon"},
	} {
		set := map[string]string{bad.name: bad.value}
		if bad.name != "CLEANUP_ENABLED" {
			set["CLEANUP_ENABLED"] = "true" // a policy is checked in the cleanup functions
		}
		_, err := from(set)
		if err == nil || !strings.Contains(err.Error(), bad.name) && !strings.Contains(err.Error(), strings.ToLower(strings.TrimPrefix(bad.name, "CLEANUP_"))) {
			t.Errorf("%s=%q: %v", bad.name, bad.value, err)
		}
	}
}
