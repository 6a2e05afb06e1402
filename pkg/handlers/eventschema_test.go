package handlers_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/events"
)

// The JSON Schemas in events/schemas, one per detail type, and a validator
// for the part of JSON Schema they use: type, enum, required, properties,
// additionalProperties (false or a schema), items, minimum, minLength, and
// format date-time.

var loadSchemas = sync.OnceValues(func() (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, dt := range events.DetailTypes {
		file := filepath.Join("../../events/schemas", strings.ReplaceAll(strings.ToLower(dt), " ", "-")+".json")
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		out[dt] = s
	}
	return out, nil
})

// validateEvent checks one event's detail against its detail type's schema.
func validateEvent(t *testing.T, detailType string, detail []byte) {
	t.Helper()
	schemas, err := loadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	schema, ok := schemas[detailType]
	if !ok {
		t.Fatalf("no schema for detail type %q", detailType)
	}
	var v any
	if err := json.Unmarshal(detail, &v); err != nil {
		t.Fatalf("%s: detail is not JSON: %s", detailType, detail)
	}
	if err := validate(schema, v, "detail"); err != nil {
		t.Fatalf("%s: %v\n%s", detailType, err, detail)
	}
}

func validate(s map[string]any, v any, at string) error {
	if enum, ok := s["enum"].([]any); ok {
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				return nil
			}
		}
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", at)
		}
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: %q is required", at, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, x := range obj {
			sub, known := props[k].(map[string]any)
			if !known {
				switch extra := s["additionalProperties"].(type) {
				case bool:
					if !extra {
						return fmt.Errorf("%s: %q is not allowed", at, k)
					}
					continue
				case map[string]any:
					sub = extra
				default:
					continue
				}
			}
			if err := validate(sub, x, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", at)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				if err := validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", at)
		}
		if n, ok := s["minLength"].(float64); ok && len(str) < int(n) {
			return fmt.Errorf("%s: shorter than %v", at, n)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("%s: %v is not an integer", at, v)
		}
		if min, ok := s["minimum"].(float64); ok && n < min {
			return fmt.Errorf("%s: %v is below %v", at, n, min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: not a boolean", at)
		}
	}
	return nil
}

func asList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// Every detail type has a schema, and every schema a detail type.
func TestEverySchemaHasADetailType(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../events/schemas/*.json")
	var names []string
	for _, dt := range events.DetailTypes {
		names = append(names, strings.ReplaceAll(strings.ToLower(dt), " ", "-")+".json")
	}
	for _, f := range files {
		if !slices.Contains(names, filepath.Base(f)) {
			t.Errorf("schema %s has no detail type", f)
		}
	}
	if _, err := loadSchemas(); err != nil {
		t.Fatal(err)
	}
}
