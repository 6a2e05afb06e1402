package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
)

// variants are the templates cfn-lint checks: cdk.json's defaults, two
// environments side by side, a renamed stack, and every documented context
// key set to a non-default value at least once (as -c key=value would).
var variants = map[string]map[string]any{
	"defaults": {},
	"env-dev":  {"env": "dev"},
	"env-prod": {"env": "prod", "stackName": "PlatformTokensProd"},
	"own-key-restricted": {
		"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "alarmEmail": "ops@example.com",
		"allowedPrincipals": "arn:aws:iam::123456789012:role/platform-ops,210987654321", "reservedConcurrency": "5", "concurrencyQuota": "2000",
		"tracing": "true", "terminationProtection": "true", "manageApiGatewayAccountRole": "true", "logRetentionDays": "90", "logLevel": "DEBUG",
		"disablePolicy": `{"unusedDays":60,"dryRun":true,"maxActions":25,"protectedAccessIds":["abc"]}`, "apiThrottleRate": "5", "apiThrottleBurst": "10",
	},
	"managed-key-default-bus": {
		"useAwsManagedKey": "true", "eventBusName": "default", "warningEmail": "owners@example.com", "architecture": "x86_64",
		"schedulesEnabled": "false", "allowPolicyWidening": "true", "scheduleTimezone": "Europe/Berlin",
	},
	"step-functions": {"cleanupEngine": "stepfunctions", "maxConcurrentPortals": "40", "tracing": "true", "postureFindings": "false", "pipelineWorkflow": "true"},
	"rotation-readers-providers": {
		"env": "stage", "rotationDays": "30", "rotationGraceHours": "12", "rotationDeleteAfterHours": "48", "credentialsRotationDays": "45",
		"orphanGraceDays": "3", "recoveryDays": "14", "keyReaders": "arn:aws:iam::123456789012:role/pipeline", "providerStacks": "apps-*,PlatformTokens",
		"lmBaseUrl": "https://acme.lm.corp.example/santaba/rest", "lmAllowedHosts": "*.lm.corp.example",
		"protectedRoles": "administrator,security", "protectedAdminIds": "7,42", "deleteSchedule": "rate(7 days)", "disableSchedule": "cron(30 2 * * ? *)",
		"deletePolicy": `{"unusedDays":365,"dryRun":false,"maxActions":10}`, "portalsPrefix": "lmtokens/portals-stage/",
		"credentialsSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:lmtokens/logicmonitor-credentials-stage-AbCdEf",
	},
}

// Every variant's template passes cfn-lint (CloudFormation's own resource
// specifications and rules) with no error, and every cdk-nag pack. Seven
// synths and seven lints take most of a minute: make test-deploy (which CI
// runs) runs it, make test does not.
func TestCfnLintEveryVariant(t *testing.T) {
	if os.Getenv("LMTOKENS_TEST_DEPLOY") == "" {
		t.Skip("make test-deploy runs it (it synthesizes the stack in every variant)")
	}
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is not installed; CI checks every template with it (pip install cfn-lint)")
		}
		t.Skip("cfn-lint is not installed")
	}
	dir := t.TempDir()
	names := make([]string, 0, len(variants))
	for name := range variants {
		names = append(names, name)
	}
	sort.Strings(names)
	var files []string
	for _, name := range names {
		ctx := variants[name]
		s, err := SettingsFromContext(func(k string) any { return ctx[k] })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ts, err := synthesize(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, _ := json.Marshal(ts.tpl.ToJSON())
		f := filepath.Join(dir, name+".template.json")
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		// The nag packs hold in every variant too.
		noNagErrors(t, ts)
	}
	type finding struct {
		Level    string `json:"Level"`
		Message  string `json:"Message"`
		Filename string `json:"Filename"`
		Rule     struct {
			ID string `json:"Id"`
		} `json:"Rule"`
		Location struct {
			Path []any `json:"Path"`
		} `json:"Location"`
	}
	// One cfn-lint per template, as many at once as there are CPUs.
	results := make([][]finding, len(files))
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.NumCPU())
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			out, err := exec.Command(lint, "--format", "json", "--", f).Output()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Error(err)
				return
			}
			if err := json.Unmarshal(out, &results[i]); err != nil {
				t.Errorf("cfn-lint answered %q: %v", out, err)
			}
		}()
	}
	wg.Wait()
	var findings []finding
	for _, r := range results {
		findings = append(findings, r...)
	}
	for _, f := range findings {
		line := fmt.Sprintf("%s: %s %s at %v: %s", filepath.Base(f.Filename), f.Level, f.Rule.ID, f.Location.Path, f.Message)
		if f.Level == "Error" {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
}
