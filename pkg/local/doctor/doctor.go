// Package doctor is lmtokens' preflight (make doctor): before a deploy, with
// the user's own AWS credentials and portal (or against the sandbox), it
// checks every assumption lmtokens relies on and prints one line per
// assumption with what it saw. It reads only, unless asked to write: then
// it creates one disabled token for a named test user and deletes it again,
// on every path.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/envlist"
	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Results of a check.
const (
	Pass = "pass"
	Warn = "warn" // lmtokens copes, but the operator should know
	Fail = "FAIL"
	Skip = "skip"
)

// Check is one assumption and what was seen of it. A failed blocker makes
// the whole run fail: lmtokens would not work (or not safely).
type Check struct {
	Name    string
	Result  string
	Seen    string
	Blocker bool
}

// Report is a run's checks.
type Report struct {
	Target string // what was checked
	Checks []Check
}

// Failed reports whether a blocker failed.
func (r Report) Failed() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Blocker && c.Result == Fail })
}

// Write prints the report as a table.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "lmtokens doctor: %s\n\n| check | result | seen |\n|---|---|---|\n", r.Target)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, c.Result, strings.ReplaceAll(c.Seen, "|", "/"))
	}
	if r.Failed() {
		fmt.Fprintln(w, "\nA check marked FAIL blocks lmtokens: fix it before deploying.")
	} else {
		fmt.Fprintln(w, "\nNothing blocks lmtokens here.")
	}
}

// Options say what to check.
type Options struct {
	// Getenv reads the functions' settings: LM_CREDENTIALS_SECRET (required),
	// LM_BASE_URL, LM_ALLOWED_HOSTS, LM_ALLOW_HTTP_LOOPBACK,
	// TOKEN_SECRET_PREFIX, TOKEN_SECRET_KMS_KEY_ID, EVENT_BUS_NAME and the
	// SDK's AWS_ENDPOINT_URL_* overrides.
	Getenv func(string) string
	// AWS is the caller's AWS configuration (region and credentials).
	AWS aws.Config
	// Write asks for a token to be created (disabled) for TestUser and
	// deleted again, proving the credentials may manage tokens.
	Write    bool
	TestUser int64
	// HTTPClient reaches the portal (default: 25 s per request).
	HTTPClient *http.Client
}

// doctor holds a run's state.
type doctor struct {
	o       Options
	rep     Report
	sm      *secretsmanager.Client
	creds   secrets.Credentials
	base    string
	auth    lmauth.Authenticator
	client  *lmclient.Client
	adminID int64 // the credentials' own user
	tokenID int64 // and token
}

func (d *doctor) add(name, result, seen string, blocker bool) {
	d.rep.Checks = append(d.rep.Checks, Check{Name: name, Result: result, Seen: seen, Blocker: blocker})
}

// Run checks every assumption and returns the report.
func Run(ctx context.Context, o Options) Report {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 25 * time.Second}
	}
	d := &doctor{o: o}
	d.sm = secretsmanager.NewFromConfig(o.AWS, func(so *secretsmanager.Options) {
		if ep := d.endpoint("SECRETS_MANAGER"); ep != "" {
			so.BaseEndpoint = aws.String(ep)
		}
	})
	d.rep.Target = "LM_CREDENTIALS_SECRET " + o.Getenv("LM_CREDENTIALS_SECRET")
	if !d.credentials(ctx) || !d.endpointRule() {
		d.awsChecks(ctx)
		return d.rep
	}
	d.rep.Target = fmt.Sprintf("portal %s at %s", d.creds.Company, d.base)
	if d.signature(ctx) {
		d.ownToken(ctx)
		d.shapes(ctx)
		if o.Write {
			d.writeCheck(ctx)
		}
	}
	d.awsChecks(ctx)
	return d.rep
}

// endpoint is the SDK's endpoint override for a service, if any.
func (d *doctor) endpoint(service string) string {
	if v := d.o.Getenv("AWS_ENDPOINT_URL_" + service); v != "" {
		return v
	}
	return d.o.Getenv("AWS_ENDPOINT_URL")
}

// credentials reads and parses the credentials secret.
func (d *doctor) credentials(ctx context.Context) bool {
	id := d.o.Getenv("LM_CREDENTIALS_SECRET")
	if id == "" {
		d.add("credentials secret", Fail, "LM_CREDENTIALS_SECRET is not set: name the secret that holds the LogicMonitor credentials", true)
		return false
	}
	src := secrets.NewCredentialSource(awssecrets.New(d.sm), id, time.Minute, nil)
	creds, err := src.Get(ctx)
	if err != nil {
		d.add("credentials secret", Fail, err.Error(), true)
		return false
	}
	d.creds = creds
	kind := "LMv1 (access id " + creds.AccessID + ")"
	if creds.AccessID == "" {
		kind = "bearer"
	}
	d.add("credentials secret", Pass, fmt.Sprintf("%s read: company %s, %s", id, creds.Company, kind), true)
	return true
}

// endpointRule applies the functions' endpoint rule to the portal.
func (d *doctor) endpointRule() bool {
	base := d.creds.BaseURL
	if base == "" {
		base = d.o.Getenv("LM_BASE_URL")
	}
	loopback, _ := strconv.ParseBool(d.o.Getenv("LM_ALLOW_HTTP_LOOPBACK"))
	c, err := lmclient.New(lmclient.Options{Company: d.creds.Company, BaseURL: base, Auth: d.creds.Auth, HTTPClient: d.o.HTTPClient,
		AllowedHosts: envlist.Split(d.o.Getenv("LM_ALLOWED_HOSTS")), AllowHTTPLoopback: loopback, UserAgent: "lmtokens-doctor", MaxRetries: -1})
	if err != nil {
		d.add("endpoint", Fail, err.Error(), true)
		return false
	}
	d.client, d.base, d.auth = c, c.BaseURL(), d.creds.Auth
	seen := c.BaseURL()
	if loopback {
		seen += " (plain http to loopback is allowed here: never in a deployment)"
	}
	d.add("endpoint", Pass, seen, true)
	return true
}

// raw is one signed GET as lmtokens sends it, answered as the portal
// answered (no decoding, no retries): the shapes are judged from it.
type raw struct {
	status  int
	header  http.Header
	body    map[string]any
	message string
}

func (d *doctor) get(ctx context.Context, path string, q url.Values) (raw, error) {
	u := strings.TrimRight(d.base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return raw{}, err
	}
	req.Header.Set("Authorization", d.auth.Authorization(http.MethodGet, path, nil, time.Now().UnixMilli()))
	req.Header.Set("X-Version", "3")
	req.Header.Set("Accept", "application/json")
	hc := *d.o.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return raw{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, lmclient.MaxResponseBytes))
	r := raw{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(b, &r.body)
	if msg, ok := r.body["errorMessage"].(string); ok {
		r.message = msg
	}
	return r, nil
}

// signature makes one signed request: it proves the key and the right to
// list tokens.
func (d *doctor) signature(ctx context.Context) bool {
	r, err := d.get(ctx, "/setting/admins/apitokens", url.Values{"size": {"1"}, "fields": {"id"}})
	switch {
	case err != nil:
		d.add("signed request", Fail, "LogicMonitor could not be reached: "+err.Error(), true)
	case r.status == http.StatusUnauthorized:
		d.add("signed request", Fail, "LogicMonitor refused the credentials (HTTP 401: "+r.message+"): a wrong key, or a disabled or deleted token", true)
	case r.status == http.StatusForbidden:
		d.add("signed request", Fail, "LogicMonitor authenticated the credentials but forbade listing tokens (HTTP 403: "+r.message+"): give the user a role that manages API tokens", true)
	case r.status >= 300 && r.status < 400:
		d.add("signed request", Fail, fmt.Sprintf("the portal answered a redirect (HTTP %d to %s): lmtokens never follows one with credentials", r.status, r.header.Get("Location")), true)
	case r.status != http.StatusOK || r.body == nil:
		d.add("signed request", Fail, fmt.Sprintf("HTTP %d %s: not LogicMonitor's REST API v3 answer", r.status, r.message), true)
	default:
		d.add("signed request", Pass, "an LMv1/bearer-signed GET with X-Version: 3 was answered 200", true)
		return true
	}
	return false
}

// ownToken finds the credentials' own token and user, and the user's roles.
func (d *doctor) ownToken(ctx context.Context) {
	var own *logicmonitor.Token
	if d.creds.AccessID != "" {
		toks, err := d.client.Tokens.ListAll(ctx, logicmonitor.ListAllOptions{Types: []string{logicmonitor.TypeLMv1}, Filter: fmt.Sprintf("accessId:%q", d.creds.AccessID)})
		if err == nil {
			for i := range toks {
				if toks[i].AccessID == d.creds.AccessID {
					own = &toks[i]
				}
			}
		}
	} else if d.creds.TokenID != 0 {
		own, _ = d.client.Tokens.Get(ctx, d.creds.AdminID, d.creds.TokenID, logicmonitor.TypeBearer)
	}
	switch {
	case own == nil && d.creds.AccessID == "" && d.creds.TokenID == 0:
		d.add("own token", Fail, `bearer credentials that name no token: add "adminId" and "tokenId" to the secret, or cleanup refuses to run`, true)
		return
	case own == nil:
		d.add("own token", Fail, "the credentials' own token was not found in LogicMonitor", true)
		return
	case d.creds.AdminID != 0 && d.creds.AdminID != own.AdminID || d.creds.TokenID != 0 && d.creds.TokenID != own.ID:
		d.add("own token", Fail, fmt.Sprintf("the secret names adminId %d / tokenId %d, but its key is token %d of user %d", d.creds.AdminID, d.creds.TokenID, own.ID, own.AdminID), true)
		return
	}
	d.adminID, d.tokenID = own.AdminID, own.ID
	d.add("own token", Pass, fmt.Sprintf("token %d of user %d (%s): cleanup never touches it", own.ID, own.AdminID, own.AdminName), true)
	if u, err := d.client.Admins.Get(ctx, own.AdminID); err != nil {
		d.add("user's roles", Warn, "could not be read: "+err.Error()+" (create reads users' roles to protect administrators)", false)
	} else {
		var names []string
		for _, r := range u.Roles {
			names = append(names, r.Name)
		}
		d.add("user's roles", Pass, fmt.Sprintf("%s holds %s; status %s", u.Username, strings.Join(names, ", "), orNone(u.Status)), false)
	}
}

// shapes reads a page of each token type as the portal sends it and judges
// every shape lmtokens relies on.
func (d *doctor) shapes(ctx context.Context) {
	need := []string{"id", "adminId", "accessId", "status", "note", "createdOn", "lastUsedOn"}
	var firstID int64
	permissions := map[string]int{}
	for _, typ := range []string{"", "bearer"} {
		q := url.Values{"size": {"50"}}
		label := "LMv1 tokens"
		if typ != "" {
			q.Set("type", typ)
			label = "bearer tokens"
		}
		r, err := d.get(ctx, "/setting/admins/apitokens", q)
		if err != nil || r.status != http.StatusOK {
			d.add(label, Fail, fmt.Sprintf("a page could not be read (HTTP %d %s %v)", r.status, r.message, err), true)
			continue
		}
		items, _ := r.body["items"].([]any)
		total, numeric := r.body["total"].(float64)
		types := map[string]int{}
		missing := map[string]int{}
		for _, it := range items {
			rec, _ := it.(map[string]any)
			if t, ok := rec["type"]; ok {
				types[fmt.Sprint(t)]++
			} else {
				types["(absent)"]++
			}
			for _, f := range need {
				if _, ok := rec[f]; !ok {
					missing[f]++
				}
			}
			if p, ok := rec["userPermission"].(string); ok {
				permissions[p]++
			}
			if id, ok := rec["id"].(float64); ok && firstID == 0 {
				firstID = int64(id)
			}
		}
		switch {
		case !numeric || total < 0:
			d.add(label, Fail, fmt.Sprintf("the page's total is %v: lmtokens refuses such listings", r.body["total"]), true)
		default:
			d.add(label, Pass, fmt.Sprintf("total %d; %d on the first page; record type values %s (lmtokens takes the type from the query, never the record)", int(total), len(items), counts(types)), false)
		}
		if len(missing) > 0 {
			d.add(label+": fields", Warn, "records lack "+counts(missing)+": cleanup skips such records as incomplete", false)
		} else if len(items) > 0 {
			d.add(label+": fields", Pass, "every record has "+strings.Join(need, ", "), false)
		}
		if typ == "" {
			d.rateHeaders(r.header)
		}
	}
	switch {
	case permissions["write"] > 0 && len(permissions) == 1:
		d.add("may manage tokens", Pass, "userPermission is write on the records seen", true)
	case permissions["read"] > 0 || permissions["none"] > 0:
		d.add("may manage tokens", Fail, "userPermission is "+counts(permissions)+" on the records seen: the credentials' user can read tokens but not create, change or delete them; give it a role that manages API tokens", true)
	default:
		d.add("may manage tokens", Warn, "the records carry no userPermission: run with WRITE=1 TEST_USER=<id> to prove it", false)
	}
	d.filters(ctx, firstID)
}

// filters checks that the portal honours the filters lmtokens narrows with
// (lmtokens re-checks every record, so one ignored costs requests, not safety).
func (d *doctor) filters(ctx context.Context, id int64) {
	for _, f := range []struct{ field, value string }{{"id", strconv.FormatInt(id, 10)}, {"accessId", strconv.Quote(d.creds.AccessID)}} {
		if f.value == "0" || f.value == `""` {
			d.add("filter on "+f.field, Skip, "nothing to filter by", false)
			continue
		}
		r, err := d.get(ctx, "/setting/admins/apitokens", url.Values{"filter": {f.field + ":" + f.value}, "size": {"2"}})
		total, _ := r.body["total"].(float64)
		switch {
		case err != nil || r.status != http.StatusOK:
			d.add("filter on "+f.field, Warn, fmt.Sprintf("HTTP %d %s %v", r.status, r.message, err), false)
		case total == 1:
			d.add("filter on "+f.field, Pass, "honoured: one record", false)
		default:
			d.add("filter on "+f.field, Warn, fmt.Sprintf("ignored (%d records): lmtokens checks every record itself, at the cost of more pages", int(total)), false)
		}
	}
}

func (d *doctor) rateHeaders(h http.Header) {
	var seen []string
	for _, k := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Window"} {
		if v := h.Get(k); v != "" {
			seen = append(seen, k+" "+v)
		}
	}
	if len(seen) == 3 {
		d.add("rate-limit headers", Pass, strings.Join(seen, ", ")+": the client paces itself by them", false)
		return
	}
	d.add("rate-limit headers", Warn, "missing ("+strings.Join(seen, ", ")+"): the client can only back off after a 429", false)
}

// writeCheck creates one disabled token for the test user and deletes it
// again, whatever happens in between.
func (d *doctor) writeCheck(ctx context.Context) {
	if d.o.TestUser <= 0 {
		d.add("create and delete", Fail, "WRITE=1 needs TEST_USER=<adminId>: the user a disabled token is made for", true)
		return
	}
	tok, err := d.client.Tokens.Create(ctx, d.o.TestUser, logicmonitor.CreateOptions{Note: "lmtokens doctor " + time.Now().UTC().Format(time.RFC3339), Status: logicmonitor.StatusDisabled})
	if err != nil {
		if logicmonitor.IsIndeterminate(err) {
			d.add("create and delete", Fail, "the create's answer was lost: look for a disabled token of user "+strconv.FormatInt(d.o.TestUser, 10)+` noted "lmtokens doctor" and delete it`, true)
			return
		}
		d.add("create and delete", Fail, "LogicMonitor refused to create a token: "+err.Error(), true)
		return
	}
	seen := fmt.Sprintf("token %d made (disabled, key not shown)", tok.ID)
	got, gerr := d.client.Tokens.Get(ctx, d.o.TestUser, tok.ID, logicmonitor.TypeLMv1)
	derr := d.client.Tokens.Delete(context.WithoutCancel(ctx), d.o.TestUser, tok.ID)
	switch {
	case derr != nil && !logicmonitor.IsNotFound(derr):
		d.add("create and delete", Fail, fmt.Sprintf("%s, but deleting it failed (%v): delete token %d of user %d by hand", seen, derr, tok.ID, d.o.TestUser), true)
	case gerr != nil || got.Status != logicmonitor.StatusDisabled || tok.AccessKey == "":
		d.add("create and delete", Fail, fmt.Sprintf("%s and deleted, but it read back as %v %v, or its answer carried no key", seen, got, gerr), true)
	default:
		d.add("create and delete", Pass, seen+", read back, and deleted", true)
	}
}

// awsChecks checks what the functions need of AWS: the key prefix in
// Secrets Manager, the KMS key, the bus.
func (d *doctor) awsChecks(ctx context.Context) {
	prefix := d.o.Getenv("TOKEN_SECRET_PREFIX")
	if prefix == "" {
		prefix = secrets.DefaultPrefix
	}
	n := 0
	p := secretsmanager.NewListSecretsPaginator(d.sm, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}}})
	var err error
	for p.HasMorePages() && err == nil {
		var page *secretsmanager.ListSecretsOutput
		if page, err = p.NextPage(ctx); err == nil {
			n += len(page.SecretList)
		}
	}
	if err != nil {
		d.add("Secrets Manager prefix", Fail, prefix+": "+shortAWS(err), true)
	} else {
		d.add("Secrets Manager prefix", Pass, fmt.Sprintf("%s: %d secrets there now", prefix, n), true)
	}
	if key := d.o.Getenv("TOKEN_SECRET_KMS_KEY_ID"); key != "" {
		k := kms.NewFromConfig(d.o.AWS, func(ko *kms.Options) {
			if ep := d.endpoint("KMS"); ep != "" {
				ko.BaseEndpoint = aws.String(ep)
			}
		})
		out, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
		switch {
		case err != nil:
			d.add("KMS key", Fail, key+": "+shortAWS(err), true)
		case !out.KeyMetadata.Enabled:
			d.add("KMS key", Fail, key+" is disabled", true)
		default:
			d.add("KMS key", Pass, aws.ToString(out.KeyMetadata.Arn)+" is enabled", true)
		}
	} else {
		d.add("KMS key", Skip, "TOKEN_SECRET_KMS_KEY_ID is not set (the stack creates its own key)", false)
	}
	if bus := d.o.Getenv("EVENT_BUS_NAME"); bus != "" {
		eb := eventbridge.NewFromConfig(d.o.AWS, func(eo *eventbridge.Options) {
			if ep := d.endpoint("EVENTBRIDGE"); ep != "" {
				eo.BaseEndpoint = aws.String(ep)
			}
		})
		if out, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(bus)}); err != nil {
			d.add("event bus", Fail, bus+": "+shortAWS(err), false)
		} else {
			d.add("event bus", Pass, aws.ToString(out.Arn), false)
		}
	} else {
		d.add("event bus", Skip, "EVENT_BUS_NAME is not set (the stack creates its bus)", false)
	}
}

// shortAWS is an SDK error's code and message.
func shortAWS(err error) string {
	var api interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%q × %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "not given"
	}
	return s
}
