package catalog_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

const module = "github.com/lmtokens/lmtokens/"

// The catalog names exactly the main packages under functions/.
func TestCatalogMatchesFunctionsDirectory(t *testing.T) {
	entries, err := os.ReadDir("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	bins := catalog.Binaries()
	slices.Sort(dirs)
	slices.Sort(bins)
	if !slices.Equal(dirs, bins) {
		t.Fatalf("functions/ holds %v, the catalog %v", dirs, bins)
	}
	for _, f := range catalog.Functions {
		api := f.CleanupStage == "" && f.Binary != catalog.Provider && f.Binary != catalog.Rotate
		if api != (len(f.Routes) > 0) {
			t.Errorf("%s: an API function serves routes, a cleanup function or the provider none", f.Name)
		}
	}
}

// No function binary links code that exists for local runs, tests and
// benchmarks.
func TestFunctionBinariesLinkNoDevCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, b := range catalog.Binaries() {
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./functions/"+b)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, module+"pkg/handlers") {
			t.Fatalf("go list names no handlers package for %s: %s", b, out)
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, module+"pkg/local/") || strings.HasPrefix(dep, module+"infra") || strings.HasSuffix(dep, "_test") {
				t.Errorf("functions/%s links %s", b, dep)
			}
			if strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2/config") {
				t.Errorf("functions/%s links the SDK's config loader (%s): megabytes and file reads on every cold start", b, dep)
			}
		}
	}
}
