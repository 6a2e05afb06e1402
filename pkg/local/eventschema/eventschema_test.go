package eventschema_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/eventschema"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

const dir = "../../../events/schemas"

func validate(t *testing.T, evs []eventschema.Event) eventschema.Result {
	t.Helper()
	res, err := eventschema.Validate(dir, evs)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Every schema compiles under ajv's strict mode, every detail type has a
// schema and every schema a detail type; and the validator refuses what a
// schema forbids, so a pass means something.
func TestSchemasAreValidAndEnforced(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		if !slices.ContainsFunc(lifecycle.DetailTypes, func(dt string) bool { return eventschema.File(dir, dt) == f }) {
			t.Errorf("schema %s has no detail type", f)
		}
	}
	bad := []eventschema.Event{
		{DetailType: lifecycle.TokenCreated, Detail: json.RawMessage(`{"adminId":2}`)},                        // required fields missing
		{DetailType: lifecycle.CleanupRunCompleted, Detail: json.RawMessage(`{"stage":"disable","extra":1}`)}, // unknown field
		{DetailType: lifecycle.TokenWillBeDisabled, Detail: json.RawMessage(`{"adminId":2,"tokenId":3,"accessId":"A","type":"lmv1","note":"x","caller":"schedule","requestId":"r","reason":"cleanup","time":"yesterday","eligibleOn":"2026-01-01T00:00:00Z","lastUse":"2026-01-01T00:00:00Z","actOn":"2026-01-01T00:00:00Z"}`)}, // not a date-time
	}
	res := validate(t, bad)
	if len(res.SchemaErrors) != 0 {
		t.Fatalf("schemas refused by ajv: %v", res.SchemaErrors)
	}
	if len(res.Failures) != len(bad) {
		t.Fatalf("ajv accepted an invalid event: %+v", res.Failures)
	}
}
