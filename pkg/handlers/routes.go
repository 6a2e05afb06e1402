package handlers

import (
	"sort"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// route is one HTTP route of the public contract.
type route struct {
	method   string
	template string // e.g. /admins/{adminId}/tokens
}

// routesOf returns the routes of the API function fn, from the catalog.
func routesOf(fn string) []route {
	var out []route
	for _, r := range catalog.RoutesOf(fn) {
		out = append(out, route{r.Method, r.Path})
	}
	return out
}

func segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match finds the function's route for a request. When API Gateway names the
// route template it is used; otherwise (a $default or proxy route) the path
// is matched by its trailing segments, which also skips a stage prefix.
// It returns the route, the path parameters it read, and whether only the
// method was wrong.
func match(fn, method, template, path string, params map[string]string) (route, map[string]string, bool) {
	useTemplate := template != "" && template != "$default" && !strings.Contains(template, "+}")
	pathOnly := false
	// Longest routes first: /prod/admins/2/tokens must not match /tokens.
	candidates := routesOf(fn)
	sort.SliceStable(candidates, func(i, j int) bool {
		return len(segments(candidates[i].template)) > len(segments(candidates[j].template))
	})
	for _, r := range candidates {
		want := segments(r.template)
		var got []string
		if useTemplate {
			got = segments(template)
			if len(got) != len(want) {
				continue
			}
		} else {
			got = segments(path)
			if len(got) < len(want) {
				continue
			}
			got = got[len(got)-len(want):]
		}
		out := map[string]string{}
		ok := true
		for i, w := range want {
			if strings.HasPrefix(w, "{") {
				name := strings.Trim(w, "{}")
				if v, given := params[name]; given {
					out[name] = v
				} else if useTemplate {
					ok = false
				} else {
					out[name] = got[i]
				}
				continue
			}
			if got[i] != w {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if !strings.EqualFold(method, r.method) {
			pathOnly = true
			continue
		}
		return r, out, false
	}
	return route{}, nil, pathOnly
}

// allowed lists the methods of a function's routes, for a 405's Allow header.
func allowed(fn string) string {
	seen := map[string]bool{}
	var ms []string
	for _, r := range routesOf(fn) {
		if !seen[r.method] {
			seen[r.method] = true
			ms = append(ms, r.method)
		}
	}
	return strings.Join(ms, ", ")
}
