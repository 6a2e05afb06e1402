package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdev"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// buildFunctions returns the four functions' binaries, built for this machine.
func buildFunctions(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the function binaries")
	}
	dir, err := localdev.BuiltFunctions("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func (e *env) startBinary(t *testing.T, fn string, extraEnv ...string) *lambdaruntime.Function {
	return e.startBinaryTimeout(t, fn, 0, extraEnv...)
}

// startBinaryTimeout starts fn with Lambda's per-invocation timeout set.
func (e *env) startBinaryTimeout(t *testing.T, fn string, timeout time.Duration, extraEnv ...string) *lambdaruntime.Function {
	dir := buildFunctions(t)
	stdout, flushOut := allLogs.lines()
	stderr, flushErr := allLogs.lines()
	t.Cleanup(func() { flushOut(); flushErr() })
	f, err := lambdaruntime.Start(lambdaruntime.Options{
		Name: "lmtokens-" + fn, Binary: filepath.Join(dir, fn, "bootstrap"), Stdout: stdout, Stderr: stderr, Timeout: timeout,
		Env: append([]string{
			"LM_CREDENTIALS_SECRET=" + credsSecret, "LM_BASE_URL=" + e.portal.URL,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.sm.URL, "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local-secret", "AWS_SESSION_TOKEN=",
			"AWS_ENDPOINT_URL_EVENTBRIDGE=" + e.eb.URL, "EVENT_BUS_NAME=" + testBus, "LM_ALLOW_HTTP_LOOPBACK=true",
			"AWS_ENDPOINT_URL_DYNAMODB=" + e.db.URL, "CLEANUP_MARKS_TABLE=" + marksTable,
			// Warnings are off unless a test turns them on.
			"CLEANUP_WARN_DAYS=0",
		}, extraEnv...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func invokeBinary(t *testing.T, f *lambdaruntime.Function, event any) lambdaruntime.Result {
	t.Helper()
	return invokeBinaryWithin(t, f, event, 20*time.Second)
}

// invokeBinaryWithin invokes with a deadline of at most d (the function's
// own timeout may be shorter).
func invokeBinaryWithin(t *testing.T, f *lambdaruntime.Function, event any, d time.Duration) lambdaruntime.Result {
	t.Helper()
	raw, _ := json.Marshal(event)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res, err := f.Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Each function's real binary, driven through the Lambda Runtime API.
func TestBinariesThroughRuntimeAPI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the function binaries")
	}
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 3, CreatedDaysAgo: 400, LastUsedDaysAgo: 300})

	create := e.startBinary(t, "create")
	res := invokeBinary(t, create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"from the binary"}`, nil))
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %s %v", res.Payload, err)
	}
	var created tokens.CreateOutput
	_ = json.Unmarshal([]byte(resp.Body), &created)
	if _, ok := e.sm.Get(created.Secret.Name); !ok || created.ID == 0 {
		t.Fatalf("create did not store the key: %s", resp.Body)
	}
	res = invokeBinary(t, create, map[string]any{"adminId": "x"})
	if res.ErrorType != handlers.TypeValidation || !strings.Contains(res.ErrorMessage, "adminId") {
		t.Fatalf("direct bad input: %+v", res)
	}

	list := e.startBinary(t, "list")
	res = invokeBinary(t, list, httpAPI("GET", "/tokens", nil, "size=10", "", nil))
	if !strings.Contains(string(res.Payload), `"statusCode":200`) || !strings.Contains(string(res.Payload), "from the binary") {
		t.Fatalf("list: %s", res.Payload)
	}

	toggle := e.startBinary(t, "toggle")
	res = invokeBinary(t, toggle, map[string]any{"adminId": 2, "tokenId": created.ID, "enabled": false})
	if res.Failed() || !strings.Contains(string(res.Payload), `"status":1`) {
		t.Fatalf("toggle: %+v %s", res, res.Payload)
	}
	// The API function refuses a cleanup; the cleanup function (the same
	// binary with CLEANUP_ENABLED) runs it, and refuses API requests.
	if res = invokeBinary(t, toggle, scheduledEvent); res.ErrorType != handlers.TypeValidation {
		t.Fatalf("scheduled event to the API function: %+v", res)
	}
	cleanupFn := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", "CLEANUP_DRY_RUN=true")
	if res = invokeBinary(t, cleanupFn, map[string]any{"adminId": 2, "tokenId": created.ID, "enabled": true}); res.ErrorType != handlers.TypeValidation {
		t.Fatalf("toggle request to the cleanup function: %+v", res)
	}
	res = invokeBinary(t, cleanupFn, scheduledEvent)
	if res.Failed() || !strings.Contains(string(res.Payload), `"dryRun":true`) || !strings.Contains(string(res.Payload), fmt.Sprintf(`"tokenId":%d`, stale.ID)) {
		t.Fatalf("scheduled dry run: %s", res.Payload)
	}
	if got, _ := e.portal.Token(stale.ID); got.Status != 2 {
		t.Fatal("the dry run changed a token")
	}

	del := e.startBinary(t, "delete")
	res = invokeBinary(t, del, map[string]any{"source": "ops", "detail-type": "DeleteToken", "detail": map[string]any{"adminId": 2, "tokenId": created.ID}})
	if res.Failed() || !strings.Contains(string(res.Payload), `"deleted":true`) {
		t.Fatalf("delete: %+v %s", res, res.Payload)
	}
	if _, ok := e.portal.Token(created.ID); ok {
		t.Fatal("token not deleted")
	}
	// The function logs JSON lines with the request id (the pipe from the
	// process may deliver them just after the answer).
	want := `"requestId":"` + res.RequestID + `"`
	for i := 0; i < 100 && !strings.Contains(allLogs.String(), want); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(allLogs.String(), `"function":"delete"`) || !strings.Contains(allLogs.String(), want) {
		t.Fatalf("the binary's log line for the delete is missing: %s", tail(allLogs.String()))
	}
}

func TestBinaryWithoutConfigurationAnswersNotCrashes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the function binaries")
	}
	e := newEnv(t, lmsandbox.Config{})
	f := e.startBinary(t, "list", "LM_CREDENTIALS_SECRET=")
	for i := 0; i < 2; i++ {
		res := invokeBinary(t, f, map[string]any{})
		if res.ErrorType != handlers.TypeConfiguration || !strings.Contains(res.ErrorMessage, "LM_CREDENTIALS_SECRET") {
			t.Fatalf("unconfigured: %+v", res)
		}
	}
}

// binaryHTTP invokes a running binary with an API Gateway REST event and
// returns its HTTP answer.
func binaryHTTP(t *testing.T, f *lambdaruntime.Function, event any) httpResp {
	t.Helper()
	res := invokeBinary(t, f, event)
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil || res.Failed() {
		t.Fatalf("%s: %+v", f.Name, res)
	}
	r := asHTTP(t, resp, nil)
	checkAgainstAPI(t, event, r)
	return r
}

func tail(s string) string {
	if len(s) > 1500 {
		return s[len(s)-1500:]
	}
	return s
}
