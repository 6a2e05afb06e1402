package infra

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/jsii-runtime-go"
)

// openAPI is the API's document, generated from the route table (make
// openapi) and kept current by a test: API Gateway validates requests from
// it, so the validation cannot drift from the contract.
//
//go:embed openapi.json
var openAPI []byte

// draft4 is the JSON Schema version API Gateway's models are written in.
const draft4 = "http://json-schema.org/draft-04/schema#"

// requestRules are what API Gateway checks of one method before a function
// runs: the parameters it requires (path ids, which it cannot route
// without) or allows (the query and the Idempotency-Key header), and the
// JSON schema of its body (nil: it takes none).
type requestRules struct {
	parameters map[string]bool // method.request.<in>.<name> → required
	body       map[string]any
}

// requestRulesFromDocument reads every operation's rules from the document.
// A schema keyword API Gateway's draft-4 models could not hold fails the
// synth rather than being dropped.
func requestRulesFromDocument(doc []byte) (map[string]requestRules, error) {
	var d struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			} `json:"parameters"`
			RequestBody *struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("infra/openapi.json: %w", err)
	}
	where := map[string]string{"path": "path", "query": "querystring", "header": "header"}
	out := map[string]requestRules{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			r := requestRules{parameters: map[string]bool{}}
			for _, p := range op.Parameters {
				in, ok := where[p.In]
				if !ok {
					return nil, fmt.Errorf("%s %s: parameter %s in %s: API Gateway checks path, query and header only", method, path, p.Name, p.In)
				}
				r.parameters["method.request."+in+"."+p.Name] = p.Required
			}
			if op.RequestBody != nil {
				media, ok := op.RequestBody.Content["application/json"]
				if !ok || len(op.RequestBody.Content) != 1 {
					return nil, fmt.Errorf("%s %s: a body must be application/json alone", method, path)
				}
				if err := draft4Only(media.Schema); err != nil {
					return nil, fmt.Errorf("%s %s: %w", method, path, err)
				}
				r.body = map[string]any{"$schema": draft4}
				for k, v := range media.Schema {
					r.body[k] = v
				}
			}
			out[strings.ToUpper(method)+" "+path] = r
		}
	}
	return out, nil
}

// draft4Only refuses the keywords this converter does not carry over
// unchanged into a draft-4 model.
func draft4Only(schema map[string]any) error {
	allowed := map[string]bool{"type": true, "properties": true, "additionalProperties": true, "required": true, "enum": true,
		"maxLength": true, "minLength": true, "minimum": true, "maximum": true, "pattern": true, "description": true, "format": true}
	for k, v := range schema {
		if !allowed[k] {
			return fmt.Errorf("schema keyword %q is not carried into API Gateway's draft-4 model", k)
		}
		if k == "properties" {
			props, _ := v.(map[string]any)
			for name, p := range props {
				sub, ok := p.(map[string]any)
				if !ok {
					return fmt.Errorf("property %s is not a schema", name)
				}
				if err := draft4Only(sub); err != nil {
					return fmt.Errorf("property %s: %w", name, err)
				}
			}
		}
		if k == "additionalProperties" {
			if _, ok := v.(bool); !ok {
				return fmt.Errorf("additionalProperties must be true or false")
			}
		}
	}
	return nil
}

// validation wires API Gateway's request validation: one validator of
// parameters and bodies, one model per request body schema. It returns the
// method options of each route ("METHOD /path").
func (b *builder) validation(api awsapigateway.RestApi) map[string]*awsapigateway.MethodOptions {
	rules, err := requestRulesFromDocument(openAPI)
	if err != nil {
		panic(err)
	}
	validator := api.AddRequestValidator(str("Validator"), &awsapigateway.RequestValidatorOptions{
		RequestValidatorName:      str("parameters-and-body"),
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	// Its refusals answer in the functions' error shape, as the document
	// says every 400 does (a fixed text: API Gateway's validation message
	// may hold quotes a template cannot escape).
	// A slice, not a map: the order they are added in feeds the
	// deployment's logical id, which must be the same on every synth.
	for _, c := range []struct {
		id   string
		typ  awsapigateway.ResponseType
		text string
	}{
		{"BadRequestBody", awsapigateway.ResponseType_BAD_REQUEST_BODY(), "API Gateway refused the body: it does not match the schema of this route in the API document (infra/openapi.json)"},
		{"BadRequestParameters", awsapigateway.ResponseType_BAD_REQUEST_PARAMETERS(), "API Gateway refused the request: a path parameter of this route is missing"},
	} {
		body, _ := json.Marshal(map[string]string{"type": "ValidationError", "message": c.text})
		api.AddGatewayResponse(str(c.id), &awsapigateway.GatewayResponseOptions{
			Type:       c.typ,
			StatusCode: str("400"),
			Templates:  &map[string]*string{"application/json": str(string(body))},
		})
	}
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	models := map[string]awsapigateway.IModel{} // by schema, so equal bodies share a model
	out := map[string]*awsapigateway.MethodOptions{}
	for _, k := range keys {
		r := rules[k]
		params := map[string]*bool{}
		for name, required := range r.parameters {
			params[name] = jsii.Bool(required)
		}
		opts := &awsapigateway.MethodOptions{
			AuthorizationType: awsapigateway.AuthorizationType_IAM,
			RequestValidator:  validator,
			RequestParameters: &params,
		}
		if r.body != nil {
			text, _ := json.Marshal(r.body)
			m, ok := models[string(text)]
			if !ok {
				name := fmt.Sprintf("Request%d", len(models)+1)
				cfn := awsapigateway.NewCfnModel(b.stack, str("Model"+name), &awsapigateway.CfnModelProps{
					RestApiId:   api.RestApiId(),
					ContentType: str("application/json"),
					Name:        str(name),
					Schema:      r.body,
				})
				m = awsapigateway.Model_FromModelName(b.stack, str("Model"+name+"Ref"), cfn.Ref())
				models[string(text)] = m
			}
			opts.RequestModels = &map[string]awsapigateway.IModel{"application/json": m}
		}
		out[k] = opts
	}
	return out
}
