package localdev

import (
	"os"
	"sync"

	"github.com/lmtokens/lmtokens/pkg/release"
)

// BuildFunctions builds every function as <dir>/<fn>/bootstrap with the
// release flags, for goarch on Linux ("" for this machine).
func BuildFunctions(root, dir, goarch string) error { return release.BuildAll(root, dir, goarch) }

var (
	builtOnce sync.Once
	builtDir  string
	builtErr  error
)

// BuiltFunctions builds the functions for this machine once per test
// process, into a temporary directory, and returns it. Each package's tests
// run in a process of their own and build again, which go build's cache
// makes quick; RemoveBuilt, from the package's TestMain, deletes the
// directory.
func BuiltFunctions(root string) (string, error) {
	builtOnce.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "lmtokens-bin-"); builtErr == nil {
			builtErr = BuildFunctions(root, builtDir, "")
		}
	})
	return builtDir, builtErr
}

// RemoveBuilt deletes what BuiltFunctions built, if anything.
func RemoveBuilt() {
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
}
