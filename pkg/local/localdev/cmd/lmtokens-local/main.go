// Command lmtokens-local runs lmtokens on this machine, with the real
// function binaries behind a local Lambda Runtime API:
//
//	lmtokens-local invoke [-fn NAME] EVENT.json   one event, as `sam local invoke` does
//	lmtokens-local demo                           the guided walkthrough (make demo)
//	lmtokens-local serve [-addr 127.0.0.1:3000]   the HTTP API, as `sam local start-api` does (make local)
//	lmtokens-local sandbox [-addr 127.0.0.1:8081] the LogicMonitor sandbox alone
//	lmtokens-local bench [-out BENCHMARKS.md]     every figure of BENCHMARKS.md (make bench)
//	lmtokens-local doctor [-variance]             the preflight (make doctor): every assumption, checked
//
// By default it runs against the LogicMonitor sandbox and a local Secrets
// Manager; serve and invoke use the real portal and Secrets Manager when
// LM_CREDENTIALS_SECRET and AWS credentials are in the environment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lmtokens/lmtokens/pkg/local/doctor"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdev"
	"github.com/lmtokens/lmtokens/pkg/local/localevents"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "invoke":
		err = invoke(os.Args[2:])
	case "demo":
		err = demo(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "sandbox":
		err = sandbox(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	case "doctor":
		err = doctorCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lmtokens-local:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lmtokens-local invoke [-fn NAME] EVENT.json | demo | serve [-addr HOST:PORT] | sandbox [-addr HOST:PORT] | bench [-out FILE] | doctor [-variance]")
	os.Exit(2)
}

// useReal reports whether the environment points at a real portal.
func useReal() bool {
	return os.Getenv("LM_CREDENTIALS_SECRET") != "" && os.Getenv("LMTOKENS_LOCAL_SANDBOX") != "1"
}

func invoke(args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ExitOnError)
	fn := fs.String("fn", "", "function: list, create, toggle, delete, provider, cleanup-disable or cleanup-delete (default: from the event file's name)")
	bin := fs.String("bin", "bin/local", "directory of <fn>/bootstrap binaries built for this machine")
	quiet := fs.Bool("q", false, "do not print the function's log lines")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("invoke takes one event file")
	}
	event, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if *fn == "" {
		if *fn = localdev.FunctionForEvent(fs.Arg(0)); *fn == "" {
			return fmt.Errorf("cannot tell the function from %s: give -fn", fs.Arg(0))
		}
	}
	var logs io.Writer = os.Stderr
	if *quiet {
		logs = io.Discard
	}
	stack, err := localdev.Start(localdev.Options{BinDir: *bin, Logs: logs, Real: useReal()})
	if err != nil {
		return err
	}
	defer stack.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := stack.Invoke(ctx, *fn, event)
	if err != nil {
		return err
	}
	var pretty any
	out := res.Payload
	if json.Unmarshal(res.Payload, &pretty) == nil {
		out, _ = json.MarshalIndent(pretty, "", "  ")
	}
	fmt.Println(string(out))
	if res.Failed() {
		return fmt.Errorf("%s returned a function error: %s: %s", *fn, res.ErrorType, res.ErrorMessage)
	}
	// A rotation the request started: let it run through the rotate
	// function, as Secrets Manager would, and say how it ended.
	if stack.Secrets != nil {
		for secret, outcomes := range stack.Secrets.WaitRotations() {
			kinds := stack.Secrets.RotationKinds(secret)
			for i, err := range outcomes {
				if err != nil {
					return fmt.Errorf("the %s of %s failed: %v", kinds[i], secret, err)
				}
				if kinds[i] == localsecrets.ConfigurationTest {
					fmt.Printf("rotation schedule of %s set: Secrets Manager's test of the configuration (testSecret on the current key) passed\n", secret)
				} else {
					fmt.Printf("rotation of %s: done (new key promoted to AWSCURRENT)\n", secret)
				}
			}
		}
	}
	// A CloudFormation event: show what the function answered CloudFormation.
	var cfnEvent struct{ RequestId string }
	if json.Unmarshal(event, &cfnEvent) == nil && cfnEvent.RequestId != "" {
		answer, ok := stack.CFNAnswer(cfnEvent.RequestId)
		if !ok {
			return fmt.Errorf("%s did not answer CloudFormation", *fn)
		}
		var a struct{ Status, Reason string }
		_ = json.Unmarshal(answer, &a)
		fmt.Printf("answered CloudFormation: %s\n", answer)
		if a.Status != "SUCCESS" {
			return fmt.Errorf("%s answered CloudFormation %s: %s", *fn, a.Status, a.Reason)
		}
	}
	return nil
}

func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	bin := fs.String("bin", "bin/local", "directory of <fn>/bootstrap binaries built for this machine")
	logFile := fs.String("logs", "", "write the functions' log lines to this file")
	_ = fs.Parse(args)
	var logs io.Writer = io.Discard
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = f
	}
	stack, err := localdev.Start(localdev.Options{BinDir: *bin, Logs: logs})
	if err != nil {
		return err
	}
	defer stack.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := &localdev.Demo{Stack: stack, Out: os.Stdout, Color: colorTerminal()}
	return d.Run(ctx)
}

// colorTerminal: colour only on a terminal, and never with NO_COLOR set.
func colorTerminal() bool {
	if _, set := os.LookupEnv("NO_COLOR"); set || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "address to serve the HTTP API on")
	bin := fs.String("bin", "bin/local", "directory of <fn>/bootstrap binaries built for this machine")
	_ = fs.Parse(args)
	real := useReal()
	// Every event the functions put on the local EventBridge is logged.
	logEvent := func(ev localevents.Event) {
		fmt.Fprintf(os.Stderr, "event %s on %s: %s\n", ev.DetailType, ev.Bus, ev.Detail)
	}
	stack, err := localdev.Start(localdev.Options{BinDir: *bin, Logs: os.Stderr, Real: real, OnEvent: logEvent})
	if err != nil {
		return err
	}
	defer stack.Close()
	if real {
		fmt.Printf("using the REAL LogicMonitor portal and AWS Secrets Manager (credentials secret %s)\n", os.Getenv("LM_CREDENTIALS_SECRET"))
	} else {
		fmt.Printf("using the LogicMonitor sandbox at %s and a local Secrets Manager (set LM_CREDENTIALS_SECRET and AWS credentials for the real ones)\n", stack.PortalURL)
	}
	srv := &http.Server{Addr: *addr, Handler: stack.APIGateway(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("lmtokens HTTP API on http://%s (GET /tokens, GET|POST /admins/{adminId}/tokens, PATCH|DELETE /admins/{adminId}/tokens/{tokenId}); Ctrl-C stops\n", *addr)
	return listenUntilSignal(srv)
}

func sandbox(args []string) error {
	fs := flag.NewFlagSet("sandbox", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to serve the sandbox on")
	seed := fs.String("seed", "", "JSON seed of users and tokens (default: the built-in one)")
	limit := fs.Int("rate-limit", 0, "requests per window per method and endpoint (0: 10,000)")
	window := fs.Duration("rate-window", 0, "rate-limit window (0: 60s)")
	latency := fs.Duration("latency", 0, "latency added to every request")
	_ = fs.Parse(args)
	data := localdev.DefaultSeed
	if *seed != "" {
		var err error
		if data, err = os.ReadFile(*seed); err != nil {
			return err
		}
	}
	p := lmsandbox.New(lmsandbox.Config{RateLimit: *limit, RateWindow: *window, Latency: *latency})
	if _, err := p.LoadSeed(strings.NewReader(string(data))); err != nil {
		return err
	}
	fmt.Printf("LogicMonitor sandbox on http://%s%s with %d tokens; Ctrl-C stops\n", *addr, lmsandbox.RestPrefix, len(p.Tokens()))
	return listenUntilSignal(&http.Server{Addr: *addr, Handler: p, ReadHeaderTimeout: 10 * time.Second})
}

func listenUntilSignal(srv *http.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}
}

func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	local := fs.String("bin", "bin/local", "binaries built for this machine")
	release := fs.String("release", "bin", "binaries built for Lambda (make build), for the sizes")
	out := fs.String("out", "BENCHMARKS.md", "file to write")
	starts := fs.Int("starts", 21, "cold starts per binary")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	figs, err := localdev.RunBenchmarks(ctx, localdev.BenchOptions{LocalBin: *local, ReleaseBin: *release, Starts: *starts,
		Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }})
	if err != nil {
		return err
	}
	missed := 0
	for _, f := range figs {
		mark := "ok  "
		if !f.Met {
			mark, missed = "MISS", missed+1
		}
		fmt.Printf("%s %-62s %-40s target %s\n", mark, f.Name, f.Measured, f.Target)
	}
	if err := localdev.WriteBenchmarks(*out, figs); err != nil {
		return err
	}
	fmt.Printf("%s written; %d of %d figures at or past their target\n", *out, len(figs)-missed, len(figs))
	return nil
}

// doctorCmd runs the preflight against the real portal and AWS account
// (LM_CREDENTIALS_SECRET and AWS credentials in the environment), or
// against the sandbox and the local services. WRITE=1 TEST_USER=<id> lets
// it create and delete one disabled token. It exits non-zero on a blocker.
func doctorCmd(args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ExitOnError)
	bin := fs.String("bin", "bin/local", "directory of <fn>/bootstrap binaries built for this machine")
	variance := fs.Bool("variance", lmsandbox.VarianceFromEnv(), "the sandbox serves what LogicMonitor's documentation leaves open in its other forms")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := doctor.Options{Write: os.Getenv("WRITE") == "1"}
	if v := os.Getenv("TEST_USER"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("TEST_USER %q must be a user id", v)
		}
		o.TestUser = id
	}
	if useReal() {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		o.AWS, o.Getenv = cfg, os.Getenv
	} else {
		stack, err := localdev.Start(localdev.Options{BinDir: *bin, SandboxConfig: lmsandbox.Config{Variance: *variance}})
		if err != nil {
			return err
		}
		defer stack.Close()
		env := map[string]string{}
		for _, kv := range stack.Env() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		o.Getenv = func(k string) string { return env[k] }
		o.AWS = aws.Config{Region: env["AWS_REGION"], Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")}
		fmt.Fprintln(os.Stderr, "lmtokens doctor: against the LogicMonitor sandbox and the local services (set LM_CREDENTIALS_SECRET and AWS credentials for yours)")
	}
	rep := doctor.Run(ctx, o)
	rep.Write(os.Stdout)
	if rep.Failed() {
		os.Exit(1)
	}
	return nil
}
