package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/local/apibodies"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

// API Gateway validates every method from the API document: one validator
// of parameters and bodies, each path id required, the query and the
// Idempotency-Key allowed, and each JSON body checked against a draft-4
// model that is the document's schema. (pkg/handlers checks the other half:
// every request the document refuses, the functions answer with a 4xx, so
// API Gateway's check is never stricter than the functions'.)
func TestRequestValidationFromTheAPIDocument(t *testing.T) {
	ts := loadDefaults(t)
	rules, err := requestRulesFromDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	validators := ts.ofType("AWS::ApiGateway::RequestValidator")
	if len(validators) != 1 {
		t.Fatalf("%d request validators", len(validators))
	}
	var validatorID string
	for id, v := range validators {
		validatorID = id
		if v["ValidateRequestBody"] != true || v["ValidateRequestParameters"] != true {
			t.Errorf("the validator checks bodies %v, parameters %v", v["ValidateRequestBody"], v["ValidateRequestParameters"])
		}
	}
	// Its refusals answer in the document's error shape.
	responses := map[string]bool{}
	for _, r := range ts.ofType("AWS::ApiGateway::GatewayResponse") {
		var body struct{ Type, Message string }
		if err := json.Unmarshal([]byte(fmt.Sprint(asMap(r["ResponseTemplates"])["application/json"])), &body); err != nil || body.Type != "ValidationError" || body.Message == "" || r["StatusCode"] != "400" {
			t.Errorf("gateway response %v: %v, %+v", r["ResponseType"], err, body)
		}
		responses[fmt.Sprint(r["ResponseType"])] = true
	}
	if !responses["BAD_REQUEST_BODY"] || !responses["BAD_REQUEST_PARAMETERS"] {
		t.Errorf("gateway responses %v", responses)
	}
	models := ts.ofType("AWS::ApiGateway::Model")
	resources := ts.ofType("AWS::ApiGateway::Resource")
	// The path of a resource, from its PathPart and parents.
	var pathOf func(ref any) string
	pathOf = func(ref any) string {
		m, ok := ref.(map[string]any)
		if !ok {
			return ""
		}
		id, _ := m["Ref"].(string)
		r, ok := resources[id]
		if !ok {
			return "" // the root
		}
		return pathOf(r["ParentId"]) + "/" + fmt.Sprint(r["PathPart"])
	}
	seen := 0
	for id, m := range ts.ofType("AWS::ApiGateway::Method") {
		key := fmt.Sprint(m["HttpMethod"]) + " " + pathOf(m["ResourceId"])
		want, ok := rules[key]
		if !ok {
			t.Errorf("%s (%s) is not in the API document", id, key)
			continue
		}
		seen++
		if ref, _ := m["RequestValidatorId"].(map[string]any); ref["Ref"] != validatorID {
			t.Errorf("%s: validator %v", key, m["RequestValidatorId"])
		}
		params := map[string]bool{}
		for k, v := range asMap(m["RequestParameters"]) {
			params[k] = v == true
		}
		if !reflect.DeepEqual(params, want.parameters) {
			t.Errorf("%s: parameters %v, want %v", key, params, want.parameters)
		}
		body := asMap(m["RequestModels"])
		if want.body == nil {
			if len(body) != 0 {
				t.Errorf("%s takes no body but has models %v", key, body)
			}
			continue
		}
		ref, _ := asMap(body["application/json"])["Ref"].(string)
		model, ok := models[ref]
		if !ok {
			t.Errorf("%s: no application/json model (%v)", key, body)
			continue
		}
		got, _ := json.Marshal(model["Schema"])
		wantJSON, _ := json.Marshal(want.body)
		if string(got) != string(wantJSON) || model["ContentType"] != "application/json" {
			t.Errorf("%s: the model is not the document's schema:\n%s\n%s", key, got, wantJSON)
		}
	}
	routes := 0
	for _, f := range catalog.Functions {
		routes += len(f.Routes)
	}
	if seen != routes {
		t.Errorf("%d methods checked, %d routes", seen, routes)
	}
}

// The models are draft-4 schemas as a draft-4 validator (ajv-draft-04, at
// its pinned version) compiles them, and they decide bodies as the
// functions do.
func TestRequestModelsAsADraft4ValidatorReadsThem(t *testing.T) {
	rules, err := requestRulesFromDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]map[string]any{
		"create": rules["POST /admins/{adminId}/tokens"].body,
		"toggle": rules["PATCH /admins/{adminId}/tokens/{tokenId}"].body,
	}
	// The same bodies the functions' decoding is held to (pkg/handlers'
	// TestBodiesAsAPIGatewayDecidesThem).
	cases, err := apibodies.BodyCases("..")
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		Schema map[string]any  `json:"schema"`
		Body   json.RawMessage `json:"body"`
	}
	var in []item
	for _, c := range cases {
		in = append(in, item{schemas[c.Function], c.Body})
	}
	payload, _ := json.Marshal(in)
	const script = `
const Ajv = require("ajv-draft-04");
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const ajv = new Ajv({strict: true, allErrors: true});
require("ajv-formats")(ajv);
process.stdout.write(JSON.stringify(items.map(i => ajv.compile(i.schema)(i.body))));`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := npmtools.Node(ctx, script, payload)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []bool
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(cases) {
		t.Fatalf("%v: %s", err, out)
	}
	for i, c := range cases {
		if verdicts[i] != c.Valid {
			t.Errorf("%s %s: valid %v, want %v", c.Function, c.Body, verdicts[i], c.Valid)
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
