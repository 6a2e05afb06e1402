// Package npmtools provides the evaluators from npm that the tests run (an
// IAM policy simulator today) at the exact versions package-lock.json pins.
// They are installed once per lock file into the user's cache, never into
// the repository or a function, and run with Node.js.
package npmtools

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

var (
	//go:embed package.json
	packageJSON []byte
	//go:embed package-lock.json
	packageLock []byte
)

// ErrNoNode says Node.js or npm is not installed.
var ErrNoNode = errors.New("npmtools: node and npm are needed (install Node.js 20 or newer)")

// Dir installs the pinned packages if they are not yet and answers the
// directory whose node_modules holds them. Several test binaries may call
// it at once: each installs into a directory of its own and the first to
// finish renames it into place.
func Dir() (string, error) {
	if _, err := exec.LookPath("npm"); err != nil {
		return "", ErrNoNode
	}
	sum := sha256.Sum256(append(append([]byte{}, packageJSON...), packageLock...))
	root := os.Getenv("LMTOKENS_NPM_CACHE")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		root = filepath.Join(cache, "lmtokens", "npmtools")
	}
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, "install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for name, body := range map[string][]byte{"package.json": packageJSON, "package-lock.json": packageLock} {
		if err := os.WriteFile(filepath.Join(tmp, name), body, 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npmtools: npm ci: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process got there first: its install is the same.
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr != nil {
			return "", err
		}
	}
	return dir, nil
}

// Node runs a CommonJS script with the pinned packages on its require path,
// input on its standard input, and answers its standard output.
func Node(ctx context.Context, script string, input []byte) ([]byte, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("npmtools: node: %v\n%s", err, stderr.Bytes())
	}
	return out, nil
}

// Run runs a pinned package's command (a name in node_modules/.bin) with
// args, from dir, and answers its combined output.
func Run(ctx context.Context, dir, command string, args ...string) ([]byte, error) {
	root, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "node_modules", ".bin", command), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("npmtools: %s: %v\n%s", command, err, out)
	}
	return out, nil
}
