package apievent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestShapes(t *testing.T) {
	cases := map[string]Shape{
		`{"httpMethod":"GET","path":"/tokens","requestContext":{"stage":"v1"}}`:                                     REST,
		`{"version":"2.0","routeKey":"GET /tokens","rawPath":"/tokens","requestContext":{"http":{"method":"GET"}}}`: HTTPAPI,
		`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`:                                       EventBridge,
		`{"adminId":2}`: Direct,
		// A direct request that happens to have an httpMethod field is not REST without requestContext.
		`{"httpMethod":"GET","adminId":2}`: Direct,
		`{"version":"2.0","adminId":2}`:    Direct,
	}
	for raw, want := range cases {
		r, err := Decode([]byte(raw))
		if err != nil || r.Shape != want {
			t.Errorf("%s: got %v %v, want %v", raw, r.Shape, err, want)
		}
	}
	if _, err := Decode([]byte(`[1]`)); err != ErrNotObject {
		t.Errorf("array: %v", err)
	}
}

func TestRESTDetails(t *testing.T) {
	raw, _ := json.Marshal(events.APIGatewayProxyRequest{
		HTTPMethod: "POST", Resource: "/admins/{adminId}/tokens", Path: "/admins/2/tokens",
		Headers: map[string]string{"Idempotency-Key": "k"}, MultiValueQueryStringParameters: map[string][]string{"a": {"1", "2"}},
		PathParameters: map[string]string{"adminId": "2"}, Body: "eyJub3RlIjoieCJ9", IsBase64Encoded: true,
		RequestContext: events.APIGatewayProxyRequestContext{Stage: "v1"},
	})
	r, err := Decode(raw)
	if err != nil || r.Header("idempotency-key") != "k" || string(r.Body) != `{"note":"x"}` || len(r.Query["a"]) != 2 || r.Route != "/admins/{adminId}/tokens" {
		t.Fatalf("%+v %v", r, err)
	}
	resp := Response(HTTPAPI, 201, map[string]int{"id": 1}, map[string]string{"Retry-After": "3"}).(events.APIGatewayV2HTTPResponse)
	if resp.StatusCode != 201 || resp.Headers["Content-Type"] != "application/json" || resp.Headers["Retry-After"] != "3" || !strings.Contains(resp.Body, `"id":1`) {
		t.Fatalf("%+v", resp)
	}
}

// FuzzDecode: any bytes decode without a panic into one shape, and an
// HTTP shape always has a method.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"httpMethod":"GET","requestContext":{}}`, `{"version":"2.0","routeKey":"x","requestContext":{}}`, `{"detail-type":"a","source":"b","detail":1}`, `{"body":"%","isBase64Encoded":true,"httpMethod":"X","requestContext":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Decode(raw)
		if r == nil {
			t.Fatal("nil request")
		}
		if err == nil && r.Shape.IsHTTP() && r.Headers == nil {
			t.Fatal("HTTP request without headers map")
		}
	})
}
