package lambdaruntime_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
)

// A real aws-lambda-go binary, driven through the local Runtime API.
func TestRuntimeAPIDrivesARealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.Command("go", "build", "-o", bin, "./testdata/echo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := lambdaruntime.Start(lambdaruntime.Options{Name: "echo", Binary: bin, Timeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		res, err := f.Invoke(ctx, []byte(`{"echo":"hi"}`))
		var got struct {
			Echo        string
			RequestID   string
			DeadlineInS int
		}
		if err != nil || res.Failed() || json.Unmarshal(res.Payload, &got) != nil {
			t.Fatalf("invoke: %+v %v", res, err)
		}
		// The function sees its own request id and the configured timeout.
		if got.Echo != "hi" || got.RequestID != res.RequestID || seen[got.RequestID] || got.DeadlineInS != 7 {
			t.Fatalf("got %+v for request %s", got, res.RequestID)
		}
		seen[got.RequestID] = true
	}
	res, err := f.Invoke(ctx, []byte(`{"fail":true}`))
	if err != nil || !res.Failed() || res.ErrorMessage != "asked to fail" || res.ErrorType == "" {
		t.Fatalf("function error: %+v %v", res, err)
	}
	if res, err = f.Invoke(ctx, []byte(`{"echo":"fits","pad":6200000}`)); err != nil || res.Failed() {
		t.Fatalf("an answer under 6 MB: %s %v", res.ErrorType, err)
	}
	// A caller's earlier deadline wins over the function's timeout.
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	res, _ = f.Invoke(short, []byte(`{"echo":"x"}`))
	var got struct{ DeadlineInS int }
	_ = json.Unmarshal(res.Payload, &got)
	if got.DeadlineInS != 3 {
		t.Fatalf("deadline %d s, want 3", got.DeadlineInS)
	}
	// Lambda refuses an answer over 6 MB: the invoker gets an error (and
	// aws-lambda-go, refused by the Runtime API, ends its process).
	res, err = f.Invoke(ctx, []byte(`{"echo":"big","pad":6300000}`))
	if err != nil || res.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Fatalf("an answer over 6 MB: %s %v", res.ErrorType, err)
	}
}
