package localdev

import (
	"github.com/lmtokens/lmtokens/pkg/catalog"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// BuildFunctions builds every function as <dir>/<fn>/bootstrap with the
// release flags, for goarch on Linux ("" for this machine). root is the
// module's root directory. Tests and benchmarks use it to run the real
// binaries.
func BuildFunctions(root, dir, goarch string) error {
	for _, fn := range catalog.Binaries() {
		if err := build(root, filepath.Join(dir, fn, "bootstrap"), "./functions/"+fn, goarch); err != nil {
			return err
		}
	}
	return nil
}

// build compiles one main package as Lambda binaries are built.
func build(root, out, pkg, goarch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return nil
}

var (
	builtOnce sync.Once
	builtDir  string
	builtErr  error
)

// BuiltFunctions builds the functions for this machine once per process,
// into a temporary directory, and returns it: tests of several packages run
// the real binaries without each building them again.
func BuiltFunctions(root string) (string, error) {
	builtOnce.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "lmtokens-bin-"); builtErr == nil {
			builtErr = BuildFunctions(root, builtDir, "")
		}
	})
	return builtDir, builtErr
}
