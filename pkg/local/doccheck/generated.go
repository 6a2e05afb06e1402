package doccheck

import (
	"fmt"
	"os"
	"strings"
)

// UpdateEnv is the variable (`make docs` sets it) that lets Generated
// rewrite a document instead of failing.
const UpdateEnv = "LMTOKENS_UPDATE_DOCS"

// Generated holds the part of the document at path between the lines top
// and end to want (both empty: the whole file): it returns nil when it
// is, rewrites it when UpdateEnv is 1, and otherwise says it is stale.
func Generated(path, top, end, want string) error {
	doc, err := os.ReadFile(path)
	if top == "" && end == "" {
		switch {
		case err == nil && string(doc) == want:
			return nil
		case os.Getenv(UpdateEnv) == "1":
			return os.WriteFile(path, []byte(want), 0o644)
		case err != nil:
			return err
		}
		return fmt.Errorf("%s is stale: run make docs", path)
	}
	if err != nil {
		return err
	}
	before, rest, ok := strings.Cut(string(doc), top)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		return fmt.Errorf("%s has no generated part between %q and %q", path, top, end)
	}
	whole := before + top + want + end + after
	switch {
	case whole == string(doc):
		return nil
	case os.Getenv(UpdateEnv) == "1":
		return os.WriteFile(path, []byte(whole), 0o644)
	}
	return fmt.Errorf("%s: its generated part is stale: run make docs", path)
}
