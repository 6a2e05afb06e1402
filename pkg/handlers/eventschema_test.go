package handlers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/eventschema"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

// Every event the suite's functions emit is checked against its schema in
// events/schemas by ajv (pkg/local/eventschema), once for the whole suite,
// by TestMain: one Node.js process rather than one per event.
var emitted = struct {
	sync.Mutex
	events []eventschema.Event
	tests  []string
}{}

const schemaDir = "../../events/schemas"

// validateEvent records one event for the suite's schema check.
func validateEvent(t *testing.T, detailType string, detail []byte) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(detail, &v); err != nil {
		t.Fatalf("%s: detail is not a JSON object: %s", detailType, detail)
	}
	emitted.Lock()
	defer emitted.Unlock()
	emitted.events = append(emitted.events, eventschema.Event{DetailType: detailType, Detail: detail})
	emitted.tests = append(emitted.tests, t.Name())
}

// checkEmittedEvents runs ajv over every recorded event; it returns false
// (having said why) when one fails its schema or, for the whole suite
// (every), when a detail type was never emitted.
func checkEmittedEvents(every bool) bool {
	emitted.Lock()
	defer emitted.Unlock()
	res, err := eventschema.Validate(schemaDir, emitted.events)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		fmt.Fprintln(os.Stderr, "note: the events were not checked against their schemas:", err)
		return true
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: checking the events against their schemas:", err)
		return false
	}
	for _, e := range res.SchemaErrors {
		fmt.Fprintln(os.Stderr, "FAIL: schema:", e)
	}
	for _, f := range res.Failures {
		fmt.Fprintf(os.Stderr, "FAIL: %s: a %s event fails its schema: %v\n%s\n", emitted.tests[f.Index], f.DetailType, f.Errors, emitted.events[f.Index].Detail)
	}
	if every && !everyTypeEmitted(emitted.events) {
		fmt.Fprintln(os.Stderr, "FAIL: the suite emitted no event of some detail type, so its schema went unchecked")
		return false
	}
	return len(res.SchemaErrors)+len(res.Failures) == 0
}

// everyTypeEmitted says every detail type was emitted at least once.
func everyTypeEmitted(evs []eventschema.Event) bool {
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.DetailType] = true
	}
	for _, dt := range lifecycle.DetailTypes {
		if !seen[dt] {
			fmt.Fprintln(os.Stderr, "no", dt, "event was emitted")
			return false
		}
	}
	return true
}
