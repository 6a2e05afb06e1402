package apidoc_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/apidoc"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

// Redocly's linter, at its pinned version, finds nothing to fault in the
// committed document with its recommended rules.
func TestRedoclyLintsTheDocument(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := npmtools.Run(ctx, "../../..", "redocly", "lint", "--format=stylish", apidoc.File)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil || strings.Contains(string(out), "warning ") {
		t.Fatalf("%v\n%s", err, out)
	}
}
