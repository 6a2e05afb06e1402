package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/local/doccheck"
	"github.com/lmtokens/lmtokens/pkg/local/iamsim"
	"github.com/lmtokens/lmtokens/pkg/local/longtest"
	"github.com/lmtokens/lmtokens/pkg/securityhub"
	"github.com/lmtokens/lmtokens/pkg/settings"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// What the stack sets is what the functions read: each function's
// environment in the synthesized template (intrinsics resolved as
// CloudFormation would) goes through the functions' own parser, which must
// accept it and read back the stack's settings — for the defaults and for
// a stack with every cleanup and protection option set.
func TestEveryFunctionsEnvironmentParses(t *testing.T) {
	longtest.Mark(t)
	custom := DefaultSettings()
	custom.Env = "dev"
	custom.SecretPrefix, custom.PortalsPrefix, custom.CredentialsSecret = envDefaults("dev")
	custom.RecoveryDays = 21
	custom.ProtectedRoles = []string{}
	custom.ProtectedAdminIDs = []string{"7", "9"}
	custom.DisablePolicy = map[string]any{"unusedDays": 60, "dryRun": true, "maxActions": 20, "keepMarker": "#pin,#keep", "warnDays": 21, "protectedAccessIds": []any{"AbC123"}}
	custom.DeletePolicy = map[string]any{"unusedDays": 365, "maxActions": 5, "warnDays": 30}
	custom.LMAllowedHosts = []string{"lm.example.net"}
	custom.AllowPolicyWidening = true
	custom.MaxLifetimeDays = 365
	custom.PostureFindings = false
	for name, s := range map[string]Settings{"defaults": DefaultSettings(), "every option": custom} {
		tpl := synthesizeResolved(t, s)
		for _, id := range tpl.OfType("AWS::Lambda::Function") {
			vars, _ := tpl.Resolve(tpl.Resources[id].Properties["Environment"]).(map[string]any)["Variables"].(map[string]any)
			lookup := func(k string) (string, bool) {
				v, ok := vars[k]
				if !ok {
					return "", false
				}
				return fmt.Sprint(v), true
			}
			if arn, ok := lookup(settings.SecurityHubProduct.Env); ok {
				_, region, account, err := securityhub.ParseProductArn(arn)
				if !s.PostureFindings || !strings.Contains(id, "CleanupDisable") || region != iamsim.Region || account != iamsim.Account || err != nil {
					t.Errorf("%s: %s: %s=%s (%v): only the disable stage imports findings, to its own account's product, and only with postureFindings", name, id, settings.SecurityHubProduct.Env, arn, err)
				}
			} else if s.PostureFindings && strings.Contains(id, "CleanupDisable") {
				t.Errorf("%s: %s: no %s with postureFindings on", name, id, settings.SecurityHubProduct.Env)
			}
			cfg, err := tokens.ConfigFrom(lookup)
			if err != nil {
				t.Errorf("%s: %s: the function refuses its environment: %v", name, id, err)
				continue
			}
			wantRoles := s.ProtectedRoles
			if len(wantRoles) == 0 {
				wantRoles = nil
			}
			gotRoles := cfg.ProtectedRoles
			if len(gotRoles) == 0 {
				gotRoles = nil
			}
			if cfg.SecretPrefix != s.SecretPrefix || cfg.PortalsPrefix != s.PortalsPrefix || int(cfg.RecoveryDays) != s.RecoveryDays ||
				!reflect.DeepEqual(gotRoles, wantRoles) || len(cfg.ProtectedAdminIDs) != len(s.ProtectedAdminIDs) ||
				!reflect.DeepEqual(nilIfEmpty(cfg.AllowedHosts), nilIfEmpty(s.LMAllowedHosts)) || cfg.Cleanup.AllowWidening != s.AllowPolicyWidening ||
				cfg.MaxLifetimeDays != s.MaxLifetimeDays {
				t.Errorf("%s: %s reads %+v", name, id, cfg)
			}
			if !strings.HasPrefix(id, "Cleanup") {
				continue
			}
			stage, want := cleanup.StageDisable, s.DisablePolicy
			if strings.HasPrefix(id, "CleanupDelete") {
				stage, want = cleanup.StageDelete, s.DeletePolicy
			}
			got := cfg.Cleanup.Policies[stage]
			def := cleanup.DefaultPolicy(stage)
			for field, have := range map[string]any{"unusedDays": got.UnusedDays, "dryRun": got.DryRun, "maxActions": got.MaxActions, "warnDays": got.WarnDays} {
				expect, set := want[field]
				if !set {
					expect = map[string]any{"unusedDays": def.UnusedDays, "dryRun": def.DryRun, "maxActions": def.MaxActions, "warnDays": def.WarnDays}[field]
				}
				if fmt.Sprint(have) != fmt.Sprint(expect) {
					t.Errorf("%s: %s reads %s %v, the stack says %v", name, id, field, have, expect)
				}
			}
			if m, ok := want["keepMarker"]; ok && strings.Join(got.KeepMarkers, ",") != m {
				t.Errorf("%s: %s keep markers %v", name, id, got.KeepMarkers)
			}
			if ids, ok := want["protectedAccessIds"]; ok && fmt.Sprint(got.ProtectedAccessIDs) != fmt.Sprint(ids) {
				t.Errorf("%s: %s protected ids %v", name, id, got.ProtectedAccessIDs)
			}
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// A policy the functions would refuse fails the synth, with the functions'
// own words.
func TestPolicyTheFunctionsRefuseFailsTheSynth(t *testing.T) {
	for _, p := range []map[string]any{{"unusedDays": 0}, {"warnDays": 400}, {"dryRun": "maybe"}, {"maxActions": 20000}, {"unusedDay": 90}} {
		s := DefaultSettings()
		s.DisablePolicy = p
		if err := s.Validate(); err == nil {
			t.Errorf("disablePolicy %v was accepted", p)
		}
	}
}

// infra/README.md's context table names every context key the stack reads,
// and nothing it does not.
func TestContextTableMatchesWhatTheStackReads(t *testing.T) {
	read := map[string]bool{}
	if _, err := SettingsFromContext(func(k string) any { read[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "| context key | default | meaning |")
	section, _, _ = strings.Cut(section, "\n\n")
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, m := range regexp.MustCompile("`([a-zA-Z]+)`").FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	missing, stale := doccheck.Compare(read, documented, nil)
	if len(read) < 20 || len(missing)+len(stale) > 0 {
		t.Errorf("%d keys read; not in the table: %v; in the table but never read: %v", len(read), missing, stale)
	}
}

// cdk.json's context and the stack's built-in defaults say the same: a
// deployment from cdk.json gets what DefaultSettings documents.
func TestCdkJSONAgreesWithTheDefaults(t *testing.T) {
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		t.Fatal(err)
	}
	fromCdk, err := SettingsFromContext(func(k string) any { return cdk.Context[k] })
	if err != nil {
		t.Fatal(err)
	}
	// An empty list and no list are the same setting.
	norm := func(s Settings) map[string]any {
		raw, _ := json.Marshal(s)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		for k, v := range m {
			if v == nil {
				m[k] = []any{}
			}
		}
		return m
	}
	a, b := norm(fromCdk), norm(DefaultSettings())
	for k := range b {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("%s: cdk.json gives %v, the defaults %v", k, a[k], b[k])
		}
	}
}
