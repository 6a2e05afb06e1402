// Package release builds the function binaries the way Lambda runs them:
// static, stripped and reproducible for provided.al2023, without the RPC
// mode only the retired go1.x runtime needed. The Makefile, the CDK app,
// the tests and the benchmarks all build through it, so the flags live here
// alone.
package release

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// Flags are the go build flags of a release binary (CGO_ENABLED=0 too).
var Flags = []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w -buildid="}

// BuildAll builds every binary of the catalog as <dir>/<binary>/bootstrap
// for linux/goarch ("" builds for this machine). root is the module's root.
func BuildAll(root, dir, goarch string) error {
	for _, b := range catalog.Binaries() {
		if err := Build(root, filepath.Join(dir, b, "bootstrap"), "./functions/"+b, goarch); err != nil {
			return err
		}
	}
	return nil
}

// Build compiles one main package pkg to out with the release flags.
func Build(root, out, pkg, goarch string) error {
	args := append([]string{"build"}, Flags...)
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
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
