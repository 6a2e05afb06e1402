// Package apibodies is the table of request bodies that API Gateway's models
// (infra) and the functions' decoding (pkg/handlers) must decide alike.
package apibodies

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// BodiesFile is the table of request bodies that API Gateway's models and
// the functions' decoding must decide alike, from the repository's root.
const BodiesFile = "infra/testdata/request-bodies.json"

// BodyCase is one request body of a function and whether the API takes it.
type BodyCase struct {
	Function string          `json:"function"`
	Body     json.RawMessage `json:"body"`
	Valid    bool            `json:"valid"`
}

// BodyCases reads the table; root is the repository's root.
func BodyCases(root string) ([]BodyCase, error) {
	raw, err := os.ReadFile(filepath.Join(root, BodiesFile))
	if err != nil {
		return nil, err
	}
	var cases []BodyCase
	return cases, json.Unmarshal(raw, &cases)
}
