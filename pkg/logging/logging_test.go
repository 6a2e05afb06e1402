package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestJSONLinesWithRequestIDAndLevel(t *testing.T) {
	t.Setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
	var buf bytes.Buffer
	log := New(&buf).With("function", "list")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	log.InfoContext(ctx, "dropped below WARN")
	log.WarnContext(ctx, "kept", "n", 1)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["msg"] != "kept" || line["requestId"] != "req-123" || line["function"] != "list" || line["level"] != "WARN" {
		t.Fatalf("line %v", line)
	}
	buf.Reset()
	log.ErrorContext(context.Background(), "outside an invocation")
	if bytes.Contains(buf.Bytes(), []byte("requestId")) {
		t.Fatalf("request id outside an invocation: %s", buf.String())
	}
}
