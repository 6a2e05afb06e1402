package handlers_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/local/doccheck"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Lambda's own variables and the SDK's: set by Lambda, documented by AWS.
var lambdaVariables = map[string]bool{"AWS_LAMBDA_LOG_LEVEL": true, "AWS_MAX_ATTEMPTS": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": true, "AWS_REGION": true, "AWS_DEFAULT_REGION": true,
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true}

// The Configuration table of infra/README.md names every variable the
// functions read, and nothing they do not: those tokens.ConfigFrom looks
// up, and those the function code reads itself (os.Getenv, or the SDK
// endpoint settings through awsenv.Endpoint).
func TestConfigurationTableMatchesWhatTheFunctionsRead(t *testing.T) {
	read := map[string]bool{}
	_, _ = tokens.ConfigFrom(func(k string) (string, bool) { read[k] = true; return "", false })
	// ConfigFrom stops at the first refused value; with the required one
	// set and CLEANUP_ENABLED on, it reads every other setting.
	_, _ = tokens.ConfigFrom(func(k string) (string, bool) {
		read[k] = true
		switch k {
		case "LM_CREDENTIALS_SECRET":
			return "creds", true
		case "CLEANUP_ENABLED":
			return "true", true
		}
		return "", false
	})
	getenv := regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("([A-Z_]+)"\)`)
	// Reads by a declared name: os.Getenv(settings.EventBus.Env).
	byName := regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\(settings\.(\w+)\.Env\)`)
	declared := map[string]string{}
	decl, err := os.ReadFile("../settings/settings.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\t(\w+)\s*=\s*\w*\{?(?:Setting: )?Setting\{Env: "([A-Z_]+)"`).FindAllStringSubmatch(string(decl), -1) {
		declared[m[1]] = m[2]
	}
	endpoint := regexp.MustCompile(`awsenv\.Endpoint\("([A-Z_]+)"\)`)
	files, _ := filepath.Glob("../*/*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/local/") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, m := range getenv.FindAllStringSubmatch(string(src), -1) {
			read[m[1]] = true
		}
		for _, m := range byName.FindAllStringSubmatch(string(src), -1) {
			if declared[m[1]] == "" {
				t.Errorf("%s reads settings.%s, which pkg/settings does not declare", f, m[1])
			}
			read[declared[m[1]]] = true
		}
		for _, m := range endpoint.FindAllStringSubmatch(string(src), -1) {
			read["AWS_ENDPOINT_URL_"+m[1]] = true
		}
	}
	doc, err := os.ReadFile("../../infra/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Configuration")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	missing, stale := doccheck.Compare(read, documented, lambdaVariables)
	if len(missing)+len(stale) > 0 {
		t.Errorf("infra/README.md's Configuration: read but not documented %v; documented but not read %v", missing, stale)
	}
}
