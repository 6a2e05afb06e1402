package handlers_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
)

var fuzzFunctions = []string{handlers.List, handlers.Create, handlers.Toggle, handlers.Delete}

// FuzzHandlerInput feeds any bytes, in any shape, to every function's real
// handler against a healthy sandbox. Nothing may panic; nothing may answer
// 5xx (the upstreams are healthy, so a 5xx would be bad input mishandled);
// and whatever is refused as invalid must not have changed LogicMonitor.
// Seeds: every sample event in events/ and testdata/fuzz/FuzzHandlerInput.
func FuzzHandlerInput(f *testing.F) {
	files, _ := filepath.Glob("../../events/*.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		for i := range fuzzFunctions {
			f.Add(uint8(i), raw)
		}
	}
	for _, s := range []string{`{}`, `[]`, `null`, `"x"`, `{"adminId":-1}`, `{"cleanup":{"dryRun":"yes"}}`, `{"detail-type":"x","source":"y","detail":[]}`, `{"version":"2.0","routeKey":"$default","requestContext":{}}`} {
		f.Add(uint8(0), []byte(s))
	}
	e := newEnv(f, lmsandbox.Config{})
	for i := 0; i < 3; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "fuzz"})
	}
	f.Fuzz(func(t *testing.T, which uint8, event []byte) {
		fn := fuzzFunctions[int(which)%len(fuzzFunctions)]
		before := e.mutations()
		out, err := e.with(t).invokeWith(e.svc, fn, event)
		invalid := false
		switch r, isHTTP := envelope(out); {
		case isHTTP:
			invalid = checkHTTP(t, r.Status, r.Raw)
		default:
			if err != nil {
				fe, ok := err.(messages.InvokeResponse_Error)
				if !ok {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				switch fe.Type {
				case handlers.TypeValidation, handlers.TypeNotFound:
					invalid = fe.Type == handlers.TypeValidation
				default:
					t.Fatalf("%s for %q: %s", fe.Type, event, fe.Message)
				}
			}
		}
		if invalid && e.mutations() != before {
			t.Fatalf("an invalid request changed LogicMonitor: %q", event)
		}
	})
}

func checkHTTP(t *testing.T, status int, body string) bool {
	t.Helper()
	if status >= 500 || status < 200 {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	if strings.Contains(body, `"accessKey":`) {
		t.Fatalf("a key field in an answer: %s", body)
	}
	if status >= 400 {
		var e map[string]string
		if json.Unmarshal([]byte(body), &e) != nil || e["type"] == "" || e["message"] == "" {
			t.Fatalf("error body %s", body)
		}
	}
	return status == 400 || status == 405 || status == 413 || status == 422
}
