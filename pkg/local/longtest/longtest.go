// Package longtest marks the few tests too long for a developer's warm
// `make test` (which sets LMTOKENS_QUICK=1 and must stay under a minute on
// 2 cores). They run in plain `go test` and in `make test-race`, which CI runs.
package longtest

import (
	"os"
	"testing"
)

// QuickEnv is the environment variable `make test` sets.
const QuickEnv = "LMTOKENS_QUICK"

// Mark skips t when only the quick tests are asked for.
func Mark(t testing.TB) {
	t.Helper()
	if os.Getenv(QuickEnv) == "1" {
		t.Skip("a long test: `make test-race` runs it (CI does)")
	}
}
