package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Anyone allowed lambda:InvokeFunction on the provider can send it an event
// that looks like CloudFormation's: the function cannot tell who invoked it.
// What it can check, it does, before acting on anything:
//
//   - the stack the event names is in this function's own account and
//     region (its ARN says which), and, when PROVIDER_STACKS is set, its
//     name matches one of those patterns;
//   - the answer goes to CloudFormation's regional response bucket over
//     https (a local receiver on 127.0.0.1 only where loopback http is
//     allowed), so an event cannot make the provider send what it did, or
//     its resource's attributes, to an address of the sender's choosing.
//
// Confining who may invoke it at all is IAM's (see infra/README.md, Security model).

// trustedEvent checks an event's origin and destination.
func (s *Service) trustedEvent(ctx context.Context, ev cfn.Event) *Error {
	refuse := func(format string, args ...any) *Error {
		return &Error{Kind: tokens.KindInvalid, Message: "not CloudFormation's event for this deployment: " + fmt.Sprintf(format, args...)}
	}
	lc, ok := lambdacontext.FromContext(ctx)
	own := strings.Split(func() string {
		if ok {
			return lc.InvokedFunctionArn
		}
		return ""
	}(), ":")
	stack := strings.Split(ev.StackID, ":")
	switch {
	case len(own) < 5 || own[3] == "" || own[4] == "":
		return refuse("the function's own account and region are unknown (no function ARN)")
	case len(stack) != 6 || stack[0] != "arn" || stack[2] != "cloudformation" || !strings.HasPrefix(stack[5], "stack/"):
		return refuse("StackId %q is not a stack ARN", ev.StackID)
	case stack[3] != own[3] || stack[4] != own[4]:
		return refuse("stack %s is in %s/%s, not in this function's account and region", ev.StackID, stack[4], stack[3])
	}
	name := strings.SplitN(strings.TrimPrefix(stack[5], "stack/"), "/", 2)[0]
	if pats := s.cfg.ProviderStacks; len(pats) > 0 {
		matched := false
		for _, p := range pats {
			if m, _ := path.Match(p, name); m {
				matched = true
			}
		}
		if !matched {
			return refuse("stack %s is not one PROVIDER_STACKS lets declare tokens (%s)", name, strings.Join(pats, ", "))
		}
	}
	if err := responseURLAllowed(ev.ResponseURL, own[3], s.cfg.AllowHTTPLoopback); err != "" {
		return refuse("ResponseURL: %s", err)
	}
	return nil
}

// responseURLAllowed says why an answer may not go to raw ("" when it may):
// only CloudFormation's response bucket of the region, over https.
func responseURLAllowed(raw, region string, loopback bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "not a URL"
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" && loopback {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return "" // the local receiver of local runs and tests
		}
	}
	if u.Scheme != "https" {
		return "not https"
	}
	bucket := "cloudformation-custom-resource-response-" + strings.ReplaceAll(region, "-", "")
	for _, suffix := range []string{".s3.amazonaws.com", ".s3." + region + ".amazonaws.com", ".s3-" + region + ".amazonaws.com",
		".s3.dualstack." + region + ".amazonaws.com", ".s3." + region + ".amazonaws.com.cn"} {
		if host == bucket+suffix {
			return ""
		}
	}
	// Path-style: the regional S3 host, the bucket first in the path.
	if (host == "s3.amazonaws.com" || host == "s3."+region+".amazonaws.com") && strings.HasPrefix(u.Path, "/"+bucket+"/") {
		return ""
	}
	return "host " + host + " is not CloudFormation's response bucket of " + region
}

// cfnClient sends answers: a timeout per attempt, and no redirects (an
// answer goes to the pre-signed URL it was given, nowhere else).
func cfnClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// answerCloudFormation runs fn and answers CloudFormation with what it
// did: SUCCESS with its physical id and data, or FAILED with its error as
// the reason; a panic is answered FAILED before it goes on. The answer is
// retried a few times, within the invocation's own deadline (a URL that
// hangs cannot hold the function to it); an error says it could not be
// delivered.
func answerCloudFormation(ctx context.Context, ev cfn.Event, client *http.Client, fn func(context.Context, cfn.Event) (string, map[string]any, error)) (sendErr error) {
	r := cfn.NewResponse(&ev)
	fallback := ev.PhysicalResourceID
	if ev.RequestType == cfn.RequestCreate {
		fallback = ev.RequestID
	}
	send := func() error {
		body, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sctx, cancel := tokens.Compensation(ctx) // until just before Lambda's deadline
		defer cancel()
		var last error
		for attempt := 0; attempt < 3 && sctx.Err() == nil; attempt++ {
			if attempt > 0 {
				select {
				case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
				case <-sctx.Done():
				}
			}
			req, err := http.NewRequestWithContext(sctx, http.MethodPut, ev.ResponseURL, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.ContentLength = int64(len(body)) // no Content-Type: the URL is pre-signed without one
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					return nil
				}
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			last = err
		}
		if last == nil {
			last = sctx.Err()
		}
		return fmt.Errorf("answering CloudFormation: %w", last)
	}
	panicked := true
	defer func() {
		if panicked {
			r.Status, r.Reason, r.PhysicalResourceID = cfn.StatusFailed, "the provider panicked: see its log stream", fallback
			sendErr = send()
		}
	}()
	id, data, err := fn(ctx, ev)
	panicked = false
	r.PhysicalResourceID, r.Data, r.Status = id, data, cfn.StatusSuccess
	if r.PhysicalResourceID == "" {
		r.PhysicalResourceID = fallback
	}
	if err != nil {
		r.Status, r.Reason = cfn.StatusFailed, err.Error()
	}
	return send()
}
