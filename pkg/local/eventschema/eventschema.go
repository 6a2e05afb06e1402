// Package eventschema checks lmtokens' events against the JSON Schemas in
// events/schemas with ajv, a JSON Schema implementation the project did not
// write (draft 2020-12, strict mode, formats checked), pinned in
// pkg/local/npmtools. Strict mode also refuses a schema that is not valid
// JSON Schema.
package eventschema

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

//go:embed validate.cjs
var script string

// Event is one event to check.
type Event struct {
	DetailType string          `json:"detailType"`
	Detail     json.RawMessage `json:"detail"`
}

// Failure is an event its schema refuses.
type Failure struct {
	Index      int      `json:"index"`
	DetailType string   `json:"detailType"`
	Errors     []string `json:"errors"`
}

// Result is what ajv found.
type Result struct {
	SchemaErrors []string  `json:"schemaErrors"`
	Failures     []Failure `json:"failures"`
}

// File is the schema file of a detail type, in dir.
func File(dir, detailType string) string {
	return filepath.Join(dir, strings.ReplaceAll(strings.ToLower(detailType), " ", "-")+".json")
}

// Validate checks evs against the schemas of every detail type in dir.
func Validate(dir string, evs []Event) (Result, error) {
	schemas := map[string]json.RawMessage{}
	for _, dt := range lifecycle.DetailTypes {
		raw, err := os.ReadFile(File(dir, dt))
		if err != nil {
			return Result{}, err
		}
		schemas[dt] = raw
	}
	if evs == nil {
		evs = []Event{}
	}
	in, err := json.Marshal(map[string]any{"schemas": schemas, "events": evs})
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := npmtools.Node(ctx, script, in)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		return Result{}, fmt.Errorf("eventschema: %v: %s", err, out)
	}
	return res, nil
}
