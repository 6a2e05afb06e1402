// Package lmclient is the HTTP client of the API-token and user resources of
// LogicMonitor's REST API v3.
//
// Every request carries X-Version: 3 and is signed afresh by an
// lmauth.Authenticator (a retry gets a new epoch). The client paces itself by
// the portal's rate-limit headers before it is refused, waits out a 429 and
// retries, and retries GET, PATCH and DELETE (each sets an absolute state) after a 5xx or a transport failure
// with capped, jittered exponential backoff. A POST is retried only after a
// 429, because the portal did not process it; any other failed POST may have
// created a token.
package lmclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/portal"
)

// MaxResponseBytes bounds how much of a response body is read. A page of
// 1,000 tokens is well under 1 MiB.
const MaxResponseBytes = 8 << 20

// Options configure a Client. Company or BaseURL is required.
type Options struct {
	// Company is the portal name, the DNS label in <company>.logicmonitor.com.
	Company string
	// BaseURL replaces https://<company>.logicmonitor.com/santaba/rest
	// (tests, the sandbox, private endpoints). It must end in the prefix
	// that resource paths follow, usually /santaba/rest.
	BaseURL string
	// Auth signs every request.
	Auth lmauth.Authenticator
	// HTTPClient defaults to a client with a 25 s per-attempt timeout.
	HTTPClient *http.Client
	// MaxRetries bounds retries after 5xx and transport errors (default 3)
	// and, separately, after 429 (default 4). Negative disables them.
	MaxRetries int
	// RetryBase and RetryCap shape the backoff (defaults 200 ms and 3 s).
	RetryBase, RetryCap time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// RequestCounter, if set, is incremented with every request sent, as
	// well as the client's own count (Requests).
	RequestCounter *atomic.Int64
	// AllowedHosts are the hosts besides <company>.logicmonitor.com an
	// https BaseURL may name (exact, or *.suffix); AllowHTTPLoopback lets
	// it be plain http to 127.0.0.1 or ::1 (see endpoint.go).
	AllowedHosts      []string
	AllowHTTPLoopback bool
}

// Client talks to one LogicMonitor portal. It is safe for concurrent use.
type Client struct {
	company   string
	base      *url.URL
	basePath  string
	auth      lmauth.Authenticator
	hc        *http.Client
	retries   int
	retryBase time.Duration
	retryCap  time.Duration
	userAgent string
	pacer     *pacer

	requests atomic.Int64
	counter  *atomic.Int64
	rate     atomic.Pointer[logicmonitor.Rate]

	// Tokens is the API-token service.
	Tokens *TokensService
	// Admins is the user service (reading a user's roles).
	Admins *AdminsService
}

// New returns a client for the portal described by opts.
func New(opts Options) (*Client, error) {
	if opts.Auth == nil {
		return nil, errors.New("logicmonitor: no credentials")
	}
	raw := opts.BaseURL
	if raw == "" {
		if !portal.ValidName(opts.Company) {
			return nil, fmt.Errorf("logicmonitor: company %q is not a valid portal name (a DNS label: letters, digits, hyphens)", opts.Company)
		}
		raw = "https://" + strings.ToLower(opts.Company) + ".logicmonitor.com/santaba/rest"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, &logicmonitor.EndpointError{URL: "(unparsable)", Reason: "the base URL must be an absolute https URL without credentials or query"}
	}
	if err := checkEndpoint(u, opts.Company, opts.AllowedHosts, opts.AllowHTTPLoopback); err != nil {
		return nil, err
	}
	c := &Client{
		company:   opts.Company,
		base:      u,
		basePath:  strings.TrimRight(u.Path, "/"),
		auth:      opts.Auth,
		hc:        opts.HTTPClient,
		retries:   opts.MaxRetries,
		retryBase: opts.RetryBase,
		retryCap:  opts.RetryCap,
		userAgent: opts.UserAgent,
		pacer:     newPacer(),
		counter:   opts.RequestCounter,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 25 * time.Second}
	}
	// Never follow a redirect: the credentials would follow it.
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	if c.retries == 0 {
		c.retries = 3
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.retryBase <= 0 {
		c.retryBase = 200 * time.Millisecond
	}
	if c.retryCap <= 0 {
		c.retryCap = 3 * time.Second
	}
	if c.userAgent == "" {
		c.userAgent = "lmtokens"
	}
	c.Tokens = &TokensService{c: c}
	c.Admins = &AdminsService{c: c}
	return c, nil
}

// name says which portal the client talks to, for messages.
func (c *Client) name() string {
	if c.company != "" {
		return fmt.Sprintf("portal %q at %s", c.company, c.base.Host)
	}
	return "the portal at " + c.base.Host
}

// BaseURL returns the portal's REST base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Rate returns the rate-limit state of the latest response that carried it.
func (c *Client) Rate() logicmonitor.Rate {
	if r := c.rate.Load(); r != nil {
		return *r
	}
	return logicmonitor.Rate{}
}

// Requests returns how many HTTP requests (attempts) the client has sent.
func (c *Client) Requests() int64 { return c.requests.Load() }

// endpointKey groups requests the way LogicMonitor's limits do: per method
// and endpoint, whatever the ids in the path.
func endpointKey(method, path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			parts[i] = "{id}"
		}
	}
	return method + " " + strings.Join(parts, "/")
}

// do sends one logical request, with pacing and retries, and decodes a
// successful JSON answer into out (which may be nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("logicmonitor: encoding %s %s: %w", method, path, err)
		}
	}
	u := *c.base
	u.Path = c.basePath + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	target := u.String()
	key := endpointKey(method, path)

	serverFailures, throttles := 0, 0
	for {
		rec, err := c.pacer.wait(ctx, key)
		if err != nil {
			var long *waitTooLong
			if errors.As(err, &long) {
				return &logicmonitor.Error{Kind: logicmonitor.KindRateLimited, Method: method, Path: path, Message: err.Error(), RetryAfter: long.wait, Rate: c.Rate()}
			}
			return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, Message: "gave up waiting for the rate limit", Err: err, Rate: c.Rate()}
		}
		resp, data, err := c.attempt(ctx, method, path, target, payload)
		c.pacer.done(key, rec)
		if err != nil {
			// Transport failure: the request may or may not have arrived,
			// unless the connection was never made.
			e := &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, Message: "request failed", Err: err, Rate: c.Rate(), Indeterminate: !neverSent(err)}
			if ctx.Err() != nil || method == http.MethodPost || serverFailures >= c.retries {
				return e
			}
			serverFailures++
			if !c.sleep(ctx, c.backoff(serverFailures)) {
				return e
			}
			continue
		}
		if f, ok := out.(fastDecoder); ok && resp.StatusCode < 300 && f.decodeFast(data) {
			// The plain form of the answer: no error object, no v1
			// envelope (the fast decoder gives up on either).
			if v, ok := out.(interface{ validate() error }); ok {
				if err := v.validate(); err != nil {
					return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, StatusCode: resp.StatusCode, Message: err.Error(), Rate: c.Rate(), Indeterminate: true}
				}
			}
			return nil
		}
		if m, ok := out.(marked); ok && resp.StatusCode < 300 {
			// One pass: the answer and whatever may have come instead.
			if err := json.Unmarshal(data, out); err != nil {
				return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, StatusCode: resp.StatusCode, Message: "response is not the expected JSON: " + err.Error(), Rate: c.Rate(), Indeterminate: true}
			}
			if err := m.instead(); err != nil {
				err.Method, err.Path, err.Rate = method, path, c.Rate()
				err.Message += fmt.Sprintf(" (answered with HTTP %d)", resp.StatusCode)
				return err
			}
			if v, ok := out.(interface{ validate() error }); ok {
				if err := v.validate(); err != nil {
					return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, StatusCode: resp.StatusCode, Message: err.Error(), Rate: c.Rate(), Indeterminate: true}
				}
			}
			return nil
		}
		if resp.StatusCode < 300 {
			if env := errorEnvelope(data); env != nil {
				// An error object under a success status: the portal
				// says it failed, and no caller may take it as done.
				env.Method, env.Path, env.Rate = method, path, c.Rate()
				env.Message += fmt.Sprintf(" (answered with HTTP %d)", resp.StatusCode)
				return env
			}
			if err := decodeV3(data, out); err != nil {
				// A success status whose body is not the answer (HTML
				// from a proxy, truncated JSON): the portal may have acted.
				return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, StatusCode: resp.StatusCode, Message: err.Error(), Rate: c.Rate(), Indeterminate: true}
			}
			return nil
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// Nothing legitimate answers with a redirect, and following it
			// would send the credentials on: the portal's endpoint is wrong.
			where := resp.Header.Get("Location")
			if lu, err := url.Parse(where); err == nil {
				where = lu.Redacted()
			}
			return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: method, Path: path, StatusCode: resp.StatusCode, Rate: c.Rate(),
				Message: fmt.Sprintf("%s answered with a redirect (to %q): lmtokens never follows one with credentials; check the portal's endpoint", c.name(), where)}
		}
		e := c.errorFrom(method, path, resp, data)
		e.Indeterminate = resp.StatusCode >= 500
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			// The portal refused without processing: safe to retry any method.
			wait := e.RetryWait()
			if wait <= 0 {
				wait = c.backoff(throttles + 1)
			}
			c.pacer.throttled(key, wait)
			if throttles >= max(c.retries, 4) || !fitsDeadline(ctx, wait) {
				return e
			}
			throttles++
			continue // the pacer waits
		case resp.StatusCode >= 500 && method != http.MethodPost && serverFailures < c.retries:
			serverFailures++
			if !c.sleep(ctx, c.backoff(serverFailures)) {
				return e
			}
			continue
		case resp.StatusCode == http.StatusNotFound && method == http.MethodDelete && serverFailures > 0:
			// An earlier attempt failed in transit but may have deleted it.
			return nil
		}
		return e
	}
}

// attempt sends one signed HTTP request and reads its body.
func (c *Client) attempt(ctx context.Context, method, path, target string, payload []byte) (*http.Response, []byte, error) {
	var rdr io.Reader
	if payload != nil {
		rdr = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rdr)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", c.auth.Authorization(method, path, payload, time.Now().UnixMilli()))
	req.Header.Set("X-Version", "3")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	c.requests.Add(1)
	if c.counter != nil {
		c.counter.Add(1)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err == nil && len(data) > MaxResponseBytes {
		err = fmt.Errorf("response body over %d bytes", MaxResponseBytes)
	}
	if r, ok := parseRate(resp.Header, time.Now()); ok {
		c.rate.Store(&r)
		c.pacer.observe(endpointKey(method, path), r)
	}
	if err != nil {
		return nil, nil, err
	}
	return resp, data, nil
}

// scrubURLError drops the URL from a transport error: it names no
// credential, but query strings (filters) make error messages noisy.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) errorFrom(method, path string, resp *http.Response, data []byte) *logicmonitor.Error {
	e := &logicmonitor.Error{
		Kind:       kindForStatus(resp.StatusCode),
		Method:     method,
		Path:       path,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header, time.Now()),
		Rate:       c.Rate(),
	}
	var body struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorCode    int    `json:"errorCode"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Message, e.Code = body.ErrorMessage, body.ErrorCode
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// errorEnvelope returns LogicMonitor's v3 error object when data is one
// ({"errorMessage","errorCode"}), whatever HTTP status carried it.
func errorEnvelope(data []byte) *logicmonitor.Error {
	var body struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorCode    *int    `json:"errorCode"`
	}
	if json.Unmarshal(data, &body) != nil || (body.ErrorCode == nil && body.ErrorMessage == nil) {
		return nil
	}
	e := &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Message: "error object in a success answer"}
	if body.ErrorMessage != nil && *body.ErrorMessage != "" {
		e.Message = *body.ErrorMessage
	}
	if body.ErrorCode != nil {
		e.Code = *body.ErrorCode
		if status := *body.ErrorCode - 1000; status >= 400 && status < 600 {
			e.Kind = kindForStatus(status)
			e.Indeterminate = status >= 500
		}
	} else {
		e.Indeterminate = true
	}
	return e
}

// neverSent reports whether a transport error happened before the request
// could leave: the connection was never made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// marks are what may come in place of an answer, read in the same pass as
// the answer itself: LogicMonitor's error object (under any status), or the
// pre-v3 envelope {"status","errmsg","data"}.
type marks struct {
	ErrorMessage *string          `json:"errorMessage"`
	ErrorCode    *int             `json:"errorCode"`
	Errmsg       *string          `json:"errmsg"`
	Data         *json.RawMessage `json:"data"`
}

// marked is an answer type that carries marks.
type marked interface{ instead() *logicmonitor.Error }

// instead returns the error the marks say came instead of an answer.
func (m *marks) instead() *logicmonitor.Error {
	if m.ErrorCode != nil || m.ErrorMessage != nil {
		e := &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Message: "error object in a success answer", Indeterminate: true}
		if m.ErrorMessage != nil && *m.ErrorMessage != "" {
			e.Message = *m.ErrorMessage
		}
		if m.ErrorCode != nil {
			e.Code = *m.ErrorCode
			if status := *m.ErrorCode - 1000; status >= 400 && status < 600 {
				e.Kind, e.Indeterminate = kindForStatus(status), status >= 500
			}
		}
		return e
	}
	if m.Errmsg != nil || m.Data != nil {
		msg := ""
		if m.Errmsg != nil {
			msg = *m.Errmsg
		}
		return &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Indeterminate: true, Message: fmt.Sprintf("response is in the v1 envelope (errmsg %q), not REST API v3: is X-Version: 3 reaching the portal?", msg)}
	}
	return nil
}

// v1Probe catches the pre-v3 envelope {"status","errmsg","data"}, which the
// portal sends with HTTP 200 even for errors when X-Version: 3 is lost.
type v1Probe struct {
	Errmsg *string          `json:"errmsg"`
	Data   *json.RawMessage `json:"data"`
}

func decodeV3(data []byte, out any) error {
	var probe v1Probe
	if err := json.Unmarshal(data, &probe); err != nil {
		if len(bytes.TrimSpace(data)) == 0 && out == nil {
			return nil
		}
		return fmt.Errorf("response is not JSON: %v", err)
	}
	if probe.Errmsg != nil || probe.Data != nil {
		msg := ""
		if probe.Errmsg != nil {
			msg = *probe.Errmsg
		}
		return fmt.Errorf("response is in the v1 envelope (errmsg %q), not REST API v3: is X-Version: 3 reaching the portal?", msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding response: %v", err)
	}
	if v, ok := out.(interface{ validate() error }); ok {
		return v.validate()
	}
	return nil
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryBase << (attempt - 1)
	if d > c.retryCap || d <= 0 {
		d = c.retryCap
	}
	// Full jitter in [d/2, d): spreads retries of concurrent callers.
	return d/2 + rand.N(d/2+1)
}

func fitsDeadline(ctx context.Context, wait time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > wait
}

func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	if !fitsDeadline(ctx, d) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// readBody reads at most MaxResponseBytes+1 of an answer, into a buffer of
// its announced length when it has one (a page of 1,000 records is about
// 350 KB, which io.ReadAll would reach by growing and copying).
func readBody(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, MaxResponseBytes+1)
	n := resp.ContentLength
	if n <= 0 || n > MaxResponseBytes {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, n+512) // room to see the end without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
