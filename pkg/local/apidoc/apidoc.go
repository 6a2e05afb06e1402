// Package apidoc writes lmtokens' OpenAPI 3 document from the catalog's
// route table and the handlers' answer types, and checks HTTP traffic
// against it with kin-openapi. Each catalog route is one operation; the
// portal-scoped routes (/portals/{portal}/...) share their default route's
// description. Answer schemas are read from the Go types the functions
// encode, so a field added to an answer is in the document at the next
// `make openapi` (and a test fails until it is). It is a local package:
// no function links it.
package apidoc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// operation describes one route of the default portal.
type operation struct {
	id, summary string
	query       []*openapi3.Parameter
	headers     []*openapi3.Parameter
	body        *openapi3.Schema
	status      int
	answer      any // a value of the answer's Go type
}

func str() *openapi3.Schema { return openapi3.NewStringSchema() }

func queryParam(name, doc string, s *openapi3.Schema) *openapi3.Parameter {
	return &openapi3.Parameter{In: openapi3.ParameterInQuery, Name: name, Description: doc, Schema: s.NewRef()}
}

var listQuery = []*openapi3.Parameter{
	queryParam("type", "lmv1 or bearer (default: both)", str().WithEnum("lmv1", "bearer")),
	queryParam("permission", "LogicMonitor's userPermission filter", str().WithMaxLength(64)),
	queryParam("fields", "comma-separated token fields to return (never accessKey)", str()),
	queryParam("filter", "LogicMonitor filter expression", str().WithMaxLength(handlers.MaxFilterChars)),
	queryParam("size", "page size", openapi3.NewIntegerSchema().WithMin(1).WithMax(logicmonitor.MaxPageSize)),
	queryParam("offset", "page offset", openapi3.NewIntegerSchema().WithMin(0)),
	queryParam("all", "every token, all pages and both types (the inventory)", str().WithEnum("true", "false")),
}

func object(required []string, props map[string]*openapi3.Schema) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	for k, v := range props {
		s.WithProperty(k, v)
	}
	s.Required = required
	no := false
	s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	return s
}

func note() *openapi3.Schema { return str().WithMaxLength(handlers.MaxNoteChars) }

func status() *openapi3.Schema {
	return openapi3.NewIntegerSchema().WithEnum(logicmonitor.StatusDisabled, logicmonitor.StatusEnabled)
}

// operations are the default portal's routes, by "METHOD /path".
var operations = map[string]operation{
	"GET /tokens": {id: "listTokens", summary: "List tokens of every user (a page, or with all=true the whole inventory)",
		query: listQuery, status: http.StatusOK, answer: tokens.ListOutput{}},
	"GET /admins/{adminId}/tokens": {id: "listUserTokens", summary: "List one user's tokens",
		query: listQuery, status: http.StatusOK, answer: tokens.ListOutput{}},
	"GET /portals": {id: "listPortals", summary: "List the portals the deployment serves, each with its credentials' state",
		status: http.StatusOK, answer: tokens.PortalsOutput{}},
	"POST /admins/{adminId}/tokens": {id: "createToken", summary: "Create a token for a user; its key goes to Secrets Manager, never into the answer",
		headers: []*openapi3.Parameter{{In: openapi3.ParameterInHeader, Name: "Idempotency-Key", Description: "makes a retried create return the first one's answer",
			Schema: str().WithMaxLength(handlers.MaxIdemKeyLen).WithPattern(`^[\x21-\x7e]*$`).NewRef()}},
		body: object(nil, map[string]*openapi3.Schema{"note": note(), "type": str().WithEnum("lmv1", "bearer"), "status": status(),
			"rotationDays":  openapi3.NewIntegerSchema().WithMin(1).WithMax(float64(tokens.MaxRotationDays)),
			"expiresInDays": openapi3.NewIntegerSchema().WithMin(1).WithMax(float64(tokens.MaxLifetimeDays)),
			"expiresAt":     str().WithFormat("date-time")}),
		status: http.StatusCreated, answer: tokens.CreateOutput{}},
	"POST /admins/{adminId}/tokens/{tokenId}/rotate": {id: "rotateToken", summary: "Start a rotation of a stored key through Secrets Manager",
		status: http.StatusAccepted, answer: tokens.RotateOutput{}},
	"PATCH /admins/{adminId}/tokens/{tokenId}": {id: "updateToken", summary: "Enable or disable a token and/or change its note",
		body:   object(nil, map[string]*openapi3.Schema{"status": status(), "enabled": openapi3.NewBoolSchema(), "note": note()}),
		status: http.StatusOK, answer: logicmonitor.Token{}},
	"DELETE /admins/{adminId}/tokens/{tokenId}": {id: "deleteToken", summary: "Delete a token and schedule its secret's deletion",
		status: http.StatusOK, answer: tokens.DeleteOutput{}},
}

// pathParams are the patterns of path parameters: canonical ids only, and
// registered portal names.
var pathParams = map[string]*openapi3.Schema{
	"adminId": str().WithPattern(`^[1-9][0-9]{0,18}$`),
	"tokenId": str().WithPattern(`^[1-9][0-9]{0,18}$`),
	"portal":  str().WithPattern(`^[a-z][a-z0-9-]{0,62}$`),
}

// errorStatuses are the statuses an error answer may have.
var errorStatuses = []int{400, 403, 404, 405, 409, 410, 413, 422, 429, 500, 502, 503, 504}

// Document builds the OpenAPI document of every catalog route.
func Document() (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "lmtokens", Version: "1",
			Description: "LogicMonitor API tokens managed from AWS. Every method requires SigV4 (API Gateway's AWS_IAM). Keys never appear in an answer: a created key is stored in Secrets Manager, under the secret the answer names.",
			License:     &openapi3.License{Name: "Proprietary", URL: "https://example.com/lmtokens/license"}},
		Servers: openapi3.Servers{{URL: "https://{api}.execute-api.{region}.amazonaws.com/{stage}", Variables: map[string]*openapi3.ServerVariable{
			"api": {Default: "a1b2c3d4e5"}, "region": {Default: "us-east-1"}, "stage": {Default: "v1"}}}},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{"sigv4": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
				Type: "apiKey", In: "header", Name: "Authorization", Description: "AWS Signature Version 4"}}},
		},
		Security: openapi3.SecurityRequirements{{"sigv4": []string{}}},
	}
	var types []any
	for _, t := range handlers.ErrorTypes {
		types = append(types, t)
	}
	errSchema := object([]string{"type", "message"}, map[string]*openapi3.Schema{
		"type":    str().WithEnum(types...),
		"message": str().WithMinLength(1),
	})
	doc.Components.Schemas["Error"] = errSchema.NewRef()
	seen := map[string]bool{}
	for _, fn := range catalog.Functions {
		for _, r := range fn.Routes {
			base, scoped := strings.CutPrefix(r.Path, "/portals/{portal}")
			if base == "" {
				base, scoped = r.Path, false
			}
			op, ok := operations[r.Method+" "+base]
			if !ok {
				return nil, fmt.Errorf("apidoc: no description of route %s %s", r.Method, r.Path)
			}
			seen[r.Method+" "+base] = true
			o := &openapi3.Operation{OperationID: op.id, Summary: op.summary, Tags: []string{fn.Name},
				Responses: openapi3.NewResponses()}
			if scoped {
				o.OperationID += "InPortal"
				o.Summary += ", in a registered portal"
			}
			for _, seg := range strings.Split(r.Path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					name = strings.TrimSuffix(name, "}")
					o.Parameters = append(o.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
						In: openapi3.ParameterInPath, Name: name, Required: true, Schema: pathParams[name].NewRef()}})
				}
			}
			for _, p := range append(append([]*openapi3.Parameter{}, op.query...), op.headers...) {
				o.Parameters = append(o.Parameters, &openapi3.ParameterRef{Value: p})
			}
			if op.body != nil {
				o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithJSONSchema(op.body)}
			}
			answer := schemaOf(reflect.TypeOf(op.answer), doc.Components.Schemas)
			desc := http.StatusText(op.status)
			o.Responses.Delete("default")
			o.Responses.Set(fmt.Sprint(op.status), &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(answer)})
			for _, st := range errorStatuses {
				o.Responses.Set(fmt.Sprint(st), &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(http.StatusText(st)).
					WithJSONSchemaRef(openapi3.NewSchemaRef("#/components/schemas/Error", errSchema))})
			}
			item := doc.Paths.Find(r.Path)
			if item == nil {
				item = &openapi3.PathItem{}
				doc.Paths.Set(r.Path, item)
			}
			item.SetOperation(r.Method, o)
		}
	}
	for k := range operations {
		if !seen[k] {
			return nil, fmt.Errorf("apidoc: %s is described but no catalog route serves it", k)
		}
	}
	return doc, nil
}

// File is where the document is committed, from the repository's root.
const File = "infra/openapi.json"

// JSON is the document as committed: indented, keys sorted.
func JSON() ([]byte, error) {
	doc, err := Document()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	return append(out, '\n'), err
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// schemaOf is the JSON Schema of what encoding/json makes of t: a named
// struct becomes a component, referenced.
func schemaOf(t reflect.Type, components openapi3.Schemas) *openapi3.SchemaRef {
	switch {
	case t == timeType:
		return str().WithFormat("date-time").NewRef()
	case t == rawType:
		return openapi3.NewSchema().NewRef()
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := schemaOf(t.Elem(), components)
		if inner.Ref != "" {
			// OpenAPI 3.0 wants a type beside nullable.
			return &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}, Nullable: true, AllOf: openapi3.SchemaRefs{inner}}}
		}
		c := *inner.Value
		c.Nullable = true
		return c.NewRef()
	case reflect.Slice, reflect.Array:
		a := openapi3.NewArraySchema()
		a.Items = schemaOf(t.Elem(), components)
		return a.NewRef()
	case reflect.Map:
		s := openapi3.NewObjectSchema()
		s.AdditionalProperties = openapi3.AdditionalProperties{Schema: schemaOf(t.Elem(), components)}
		return s.NewRef()
	case reflect.String:
		return str().NewRef()
	case reflect.Bool:
		return openapi3.NewBoolSchema().NewRef()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return openapi3.NewIntegerSchema().NewRef()
	case reflect.Float32, reflect.Float64:
		return openapi3.NewFloat64Schema().NewRef()
	case reflect.Struct:
		name := t.Name()
		if _, ok := components[name]; !ok {
			components[name] = &openapi3.SchemaRef{Value: openapi3.NewObjectSchema()} // reserve: a type may refer to itself
			components[name] = structSchema(t, components).NewRef()
		}
		return openapi3.NewSchemaRef("#/components/schemas/"+name, components[name].Value)
	}
	panic(fmt.Sprintf("apidoc: no schema for %v", t))
}

func structSchema(t reflect.Type, components openapi3.Schemas) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	no := false
	s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.WithPropertyRef(name, schemaOf(f.Type, components))
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	sort.Strings(required)
	s.Required = required
	return s
}
