// Package lambdaruntime runs a Lambda function's real bootstrap binary
// locally, as Lambda does: it serves the Lambda Runtime API
// (GET /2018-06-01/runtime/invocation/next, POST .../{id}/response and
// .../{id}/error, POST .../init/error) on a loopback port, starts the binary
// with AWS_LAMBDA_RUNTIME_API pointing at it, and hands it invocations one at
// a time. Tests, `make invoke`, `make demo` and `make local` use it.
package lambdaruntime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const apiPrefix = "/2018-06-01/runtime"

// Result is the outcome of one invocation.
type Result struct {
	RequestID string
	// Payload is the function's response, or the error document.
	Payload []byte
	// ErrorType and ErrorMessage are set when the function returned an error.
	ErrorType    string
	ErrorMessage string
	Duration     time.Duration
}

// Failed reports whether the function returned an error.
func (r Result) Failed() bool { return r.ErrorType != "" || r.ErrorMessage != "" }

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
	started  time.Time
}

// Function is a running bootstrap binary and its Runtime API.
type Function struct {
	Name string

	ln    net.Listener
	srv   *http.Server
	cmd   *exec.Cmd
	queue chan *invocation

	mu        sync.Mutex
	inflight  map[string]*invocation
	initError *Result

	timeout time.Duration

	started   time.Time
	firstPoll chan time.Time
	pollOnce  sync.Once
	exited    chan struct{}
	exitErr   error
}

// Options start a function.
type Options struct {
	Name    string   // function name (AWS_LAMBDA_FUNCTION_NAME)
	Binary  string   // path of the bootstrap binary
	Env     []string // extra environment, KEY=VALUE
	Stdout  io.Writer
	Stderr  io.Writer
	Timeout time.Duration // per-invocation deadline (default 30 s)
	Memory  int           // AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
}

// Start serves the Runtime API and starts the binary.
func Start(o Options) (*Function, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Function{
		Name: o.Name, ln: ln, queue: make(chan *invocation), inflight: map[string]*invocation{},
		firstPoll: make(chan time.Time, 1), exited: make(chan struct{}), timeout: o.Timeout,
	}
	if f.timeout <= 0 {
		f.timeout = 30 * time.Second
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()

	if o.Memory == 0 {
		o.Memory = 128
	}
	name := o.Name
	if name == "" {
		name = "function"
	}
	f.cmd = exec.Command(o.Binary)
	f.cmd.Env = append(append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(o.Memory),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+name,
		"AWS_LAMBDA_LOG_STREAM_NAME=local",
		"_HANDLER=bootstrap",
	), o.Env...)
	f.cmd.Stdout, f.cmd.Stderr = o.Stdout, o.Stderr
	if f.cmd.Stdout == nil {
		f.cmd.Stdout = io.Discard
	}
	if f.cmd.Stderr == nil {
		f.cmd.Stderr = io.Discard
	}
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	go func() {
		f.exitErr = f.cmd.Wait()
		close(f.exited)
	}()
	return f, nil
}

// Ready waits for the binary's first poll of the Runtime API and returns the
// time from exec to that poll: the cold start.
func (f *Function) Ready(ctx context.Context) (time.Duration, error) {
	select {
	case t := <-f.firstPoll:
		f.firstPoll <- t
		return t.Sub(f.started), nil
	case <-f.exited:
		return 0, f.exitError()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *Function) exitError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.initError != nil {
		return fmt.Errorf("init error %s: %s", f.initError.ErrorType, f.initError.ErrorMessage)
	}
	return fmt.Errorf("the function exited: %v", f.exitErr)
}

// Invoke sends one event and waits for the function's answer.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	inv := &invocation{id: newRequestID(), payload: payload, done: make(chan Result, 1)}
	inv.deadline = time.Now().Add(f.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(inv.deadline) {
		inv.deadline = dl
	}
	select {
	case f.queue <- inv:
	case <-f.exited:
		return Result{}, f.exitError()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-f.exited:
		return Result{}, f.exitError()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// PeakRSS returns the process's peak resident memory (VmHWM, Linux only).
func (f *Function) PeakRSS() (int64, error) {
	if f.cmd.Process == nil {
		return 0, errors.New("not started")
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// CPUTime returns the CPU time (user and system) the process has used so
// far (Linux only), to tell a run's own work from its waiting.
func (f *Function) CPUTime() (time.Duration, error) {
	if f.cmd.Process == nil {
		return 0, errors.New("not started")
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", f.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the whole line, in clock ticks (100 a
	// second on Linux).
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, errors.New("a short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("an unreadable /proc stat line")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// Close stops the binary and the Runtime API.
func (f *Function) Close() {
	if f.cmd.Process != nil {
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	_ = f.srv.Close()
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// MaxResponseBytes is the largest answer a synchronous invocation returns
// (Lambda's 6 MB quota).
const MaxResponseBytes = 6 * 1024 * 1024

func (f *Function) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	switch {
	case r.Method == http.MethodGet && path == "/invocation/next":
		f.pollOnce.Do(func() { f.firstPoll <- time.Now() })
		select {
		case inv := <-f.queue:
			inv.started = time.Now()
			f.mu.Lock()
			f.inflight[inv.id] = inv
			f.mu.Unlock()
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:"+f.Name)
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && path == "/init/error":
		body, _ := io.ReadAll(r.Body)
		res := errorResult("", body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
		f.mu.Lock()
		f.initError = &res
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/invocation/"):
		rest := strings.TrimPrefix(path, "/invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		f.mu.Lock()
		inv := f.inflight[id]
		delete(f.inflight, id)
		f.mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var res Result
		switch {
		case kind == "response" && len(body) > MaxResponseBytes:
			// As Lambda does: the answer is refused, and the invoker gets an
			// error instead of it.
			res = Result{RequestID: id, ErrorType: "Function.ResponseSizeTooLarge",
				ErrorMessage: fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", len(body), MaxResponseBytes)}
			res.Payload, _ = json.Marshal(map[string]string{"errorType": res.ErrorType, "errorMessage": res.ErrorMessage})
			res.Duration = time.Since(inv.started)
			inv.done <- res
			http.Error(w, `{"errorMessage":"payload too large","errorType":"RequestEntityTooLarge"}`, http.StatusRequestEntityTooLarge)
			return
		}
		switch kind {
		case "response":
			res = Result{RequestID: id, Payload: body}
		case "error":
			res = errorResult(id, body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
		default:
			http.NotFound(w, r)
			return
		}
		res.Duration = time.Since(inv.started)
		inv.done <- res
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func errorResult(id string, body []byte, headerType string) Result {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	_ = json.Unmarshal(body, &doc)
	if doc.ErrorType == "" {
		doc.ErrorType = headerType
	}
	if doc.ErrorType == "" && doc.ErrorMessage == "" {
		doc.ErrorMessage = string(bytes.TrimSpace(body))
	}
	if doc.ErrorType == "" {
		doc.ErrorType = "Unhandled"
	}
	return Result{RequestID: id, Payload: body, ErrorType: doc.ErrorType, ErrorMessage: doc.ErrorMessage}
}
