package localdev

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// route maps an HTTP route of the API to the function behind it, as the CDK
// stack's API Gateway does.
type route struct {
	method, template, function string
}

// apiRoutes are the catalog's routes.
func apiRoutes() []route {
	var out []route
	for _, f := range catalog.Functions {
		for _, r := range f.Routes {
			out = append(out, route{r.Method, r.Path, f.Name})
		}
	}
	return out
}

// matchRoute finds the route of a request path, with its path parameters.
func matchRoute(method, path string) (route, map[string]string, bool) {
	got := strings.Split(strings.Trim(path, "/"), "/")
	pathMatched := false
	for _, r := range apiRoutes() {
		want := strings.Split(strings.Trim(r.template, "/"), "/")
		if len(want) != len(got) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, w := range want {
			if strings.HasPrefix(w, "{") {
				params[strings.Trim(w, "{}")] = got[i]
			} else if w != got[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathMatched = true
		if r.method == method {
			return r, params, true
		}
	}
	return route{}, nil, pathMatched
}

// APIGateway serves the HTTP API locally, the way `sam local start-api`
// does: each request becomes an API Gateway REST proxy event for the
// function behind its route, and the function's proxy response becomes the
// HTTP answer.
func (s *Stack) APIGateway() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, params, ok := matchRoute(r.Method, r.URL.Path)
		if rt.function == "" {
			status, typ, msg := http.StatusNotFound, "NotFound", "no route "+r.Method+" "+r.URL.Path
			if ok {
				status, typ, msg = http.StatusMethodNotAllowed, "ValidationError", r.Method+" is not allowed on "+r.URL.Path
			}
			writeJSON(w, status, map[string]string{"message": msg, "type": typ})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "could not read the body", "type": "ValidationError"})
			return
		}
		ev := events.APIGatewayProxyRequest{
			Resource: rt.template, Path: r.URL.Path, HTTPMethod: r.Method, Body: string(body),
			Headers: map[string]string{}, MultiValueHeaders: map[string][]string{}, PathParameters: params,
			RequestContext: events.APIGatewayProxyRequestContext{
				AccountID: "123456789012", Stage: "local", ResourcePath: rt.template, HTTPMethod: r.Method,
				RequestID: fmt.Sprintf("local-%d", time.Now().UnixNano()), Identity: events.APIGatewayRequestIdentity{SourceIP: r.RemoteAddr},
			},
		}
		for k, vs := range r.Header {
			ev.Headers[k] = vs[0]
			ev.MultiValueHeaders[k] = vs
		}
		if q := r.URL.Query(); len(q) > 0 {
			ev.QueryStringParameters = map[string]string{}
			ev.MultiValueQueryStringParameters = map[string][]string(q)
			for k, vs := range q {
				ev.QueryStringParameters[k] = vs[len(vs)-1]
			}
		}
		raw, _ := json.Marshal(ev)
		ctx, cancel := context.WithTimeout(r.Context(), 29*time.Second) // API Gateway's limit
		defer cancel()
		res, err := s.Invoke(ctx, rt.function, raw)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "the function failed: " + err.Error(), "type": "Upstream"})
			return
		}
		if res.Failed() {
			// API Gateway answers 502 when a proxy integration errors.
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Internal server error: " + res.ErrorType, "type": "Upstream"})
			return
		}
		var out events.APIGatewayProxyResponse
		if err := json.Unmarshal(res.Payload, &out); err != nil || out.StatusCode == 0 {
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "malformed Lambda proxy response", "type": "Upstream"})
			return
		}
		for k, v := range out.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(out.StatusCode)
		_, _ = io.WriteString(w, out.Body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
