package localdev

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/posture"
	"github.com/lmtokens/lmtokens/pkg/securityhub"
)

// Demo walks the sandbox through what lmtokens does, with the real function
// binaries and real-shaped events: create a token (its key goes to Secrets
// Manager), list, disable and re-enable it, run the cleanup disable stage
// (a dry run, a first run that warns, a run 14 days later that acts),
// rotate the token's key through Secrets Manager's rotation and watch the
// old token retire, and delete the token. Each step prints one line;
// the error names the first step that did not behave as expected.
type Demo struct {
	Stack *Stack
	Out   io.Writer
	Color bool
}

type step struct {
	name   string
	status string // HTTP status or "ok"
	detail string
	err    error
	took   time.Duration
}

// Run runs every step, prints a line for each and a summary.
func (d *Demo) Run(ctx context.Context) error {
	s := d.Stack
	if s.Portal == nil || s.Secrets == nil {
		return fmt.Errorf("the demo runs against the sandbox only")
	}
	var steps []step
	failed := ""
	do := func(name string, fn func() (status, detail string, err error)) {
		if failed != "" {
			return
		}
		start := time.Now()
		seen := len(s.Events.Events())
		st, detail, err := fn()
		res := step{name: name, status: st, detail: detail, err: err, took: time.Since(start)}
		steps = append(steps, res)
		d.line(res)
		// The events the step put on the local EventBridge.
		var kinds []string
		for _, ev := range s.Events.Events()[seen:] {
			kinds = append(kinds, ev.DetailType)
		}
		if len(kinds) > 0 {
			fmt.Fprintf(d.Out, "    events: %s\n", strings.Join(kinds, ", "))
		}
		if err != nil {
			failed = name
		}
	}
	fmt.Fprintf(d.Out, "%s\n", d.bold("lmtokens demo: real function binaries, LogicMonitor sandbox, local Secrets Manager"))

	var created struct {
		ID       int64  `json:"id"`
		AccessID string `json:"accessId"`
		Secret   struct {
			Name string `json:"name"`
			ARN  string `json:"arn"`
		} `json:"secret"`
	}
	do("create a token for user 2", func() (string, string, error) {
		status, body, err := d.http(ctx, "create", "POST", "/admins/{adminId}/tokens", map[string]string{"adminId": "2"}, `{"note":"demo pipeline"}`, map[string]string{"Idempotency-Key": "demo-1"})
		if err != nil {
			return status, "", err
		}
		if status != "201" {
			return status, body, fmt.Errorf("want 201")
		}
		if err := json.Unmarshal([]byte(body), &created); err != nil || created.ID == 0 {
			return status, body, fmt.Errorf("no token in the answer")
		}
		tok, _ := s.Portal.Token(created.ID)
		sec, ok := s.Secrets.Get(created.Secret.Name)
		switch {
		case strings.Contains(body, tok.AccessKey):
			return status, "", fmt.Errorf("the key is in the answer")
		case !ok || !strings.Contains(sec.Value, tok.AccessKey):
			return status, "", fmt.Errorf("the key was not stored in %s", created.Secret.Name)
		}
		return status, fmt.Sprintf("token %d (%s); key stored in secret %s, not shown", created.ID, created.AccessID, created.Secret.Name), nil
	})
	do("list the portals", func() (string, string, error) {
		status, body, err := d.http(ctx, "list", "GET", "/portals", nil, "", nil)
		if err != nil || status != "200" {
			return status, body, orWant(err, "200")
		}
		var ps struct {
			Portals []struct{ Name, Credentials string } `json:"portals"`
		}
		_ = json.Unmarshal([]byte(body), &ps)
		var names []string
		for _, p := range ps.Portals {
			if p.Credentials != "ok" {
				return status, body, fmt.Errorf("portal %s: %s", p.Name, p.Credentials)
			}
			names = append(names, p.Name)
		}
		if len(names) != 2 {
			return status, body, fmt.Errorf("want two portals")
		}
		return status, "portals " + strings.Join(names, ", ") + ", credentials ok", nil
	})
	do("create a token in portal globex", func() (string, string, error) {
		status, body, err := d.http(ctx, "create", "POST", "/portals/{portal}/admins/{adminId}/tokens", map[string]string{"portal": "globex", "adminId": "7"}, `{"note":"globex pipeline"}`, nil)
		if err != nil || status != "201" {
			return status, body, orWant(err, "201")
		}
		var out struct {
			ID     int64                 `json:"id"`
			Secret struct{ Name string } `json:"secret"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		if _, ok := s.Globex.Token(out.ID); !ok {
			return status, body, fmt.Errorf("the token is not in globex")
		}
		return status, fmt.Sprintf("token %d in globex; key stored in secret %s", out.ID, out.Secret.Name), nil
	})
	do("list user 2's tokens", func() (string, string, error) {
		status, body, err := d.http(ctx, "list", "GET", "/admins/{adminId}/tokens", map[string]string{"adminId": "2"}, "", nil)
		if err != nil || status != "200" {
			return status, body, orWant(err, "200")
		}
		var l struct {
			Total int `json:"total"`
			Items []struct {
				ID   int64  `json:"id"`
				Note string `json:"note"`
			} `json:"items"`
		}
		_ = json.Unmarshal([]byte(body), &l)
		notes := []string{}
		found := false
		for _, it := range l.Items {
			notes = append(notes, fmt.Sprintf("%d %q", it.ID, it.Note))
			found = found || it.ID == created.ID
		}
		if !found {
			return status, body, fmt.Errorf("the new token is not listed")
		}
		return status, fmt.Sprintf("%d tokens: %s", l.Total, strings.Join(notes, ", ")), nil
	})
	toggle := func(enabled bool) (string, string, error) {
		status, body, err := d.http(ctx, "toggle", "PATCH", "/admins/{adminId}/tokens/{tokenId}",
			map[string]string{"adminId": "2", "tokenId": fmt.Sprint(created.ID)}, fmt.Sprintf(`{"enabled":%v}`, enabled), nil)
		if err != nil || status != "200" {
			return status, body, orWant(err, "200")
		}
		want := 1
		if enabled {
			want = 2
		}
		if tok, _ := s.Portal.Token(created.ID); tok.Status != want {
			return status, body, fmt.Errorf("LogicMonitor shows status %d", tok.Status)
		}
		return status, fmt.Sprintf("token %d is now %s", created.ID, map[bool]string{true: "enabled", false: "disabled"}[enabled]), nil
	}
	do("disable it", func() (string, string, error) { return toggle(false) })
	do("enable it again", func() (string, string, error) { return toggle(true) })

	// Cleanup warns before it acts: a first run (a first deploy) warns the
	// owner of every stale token and marks it; a run warnDays later acts.
	var planned []cleanup.Warning
	do("cleanup, disable stage, dry run", func() (string, string, error) {
		before := s.Portal.Tokens()
		rep, err := d.cleanup(ctx, "cleanup-disable", `{"cleanup":{"dryRun":true}}`)
		if err != nil {
			return "error", "", err
		}
		planned = rep.Warnings
		after := s.Portal.Tokens()
		for i := range before {
			if i < len(after) && before[i].Status != after[i].Status {
				return "ok", "", fmt.Errorf("the dry run changed token %d", before[i].ID)
			}
		}
		if len(planned) == 0 || len(rep.Actions) != 0 {
			return "ok", "", fmt.Errorf("the seeded stale tokens were not found to warn (%d warnings, %d actions)", len(planned), len(rep.Actions))
		}
		if rep.Findings == nil || rep.Findings.Raised == 0 || rep.Findings.Calls != 0 || len(s.Hub.Findings()) != 0 {
			return "ok", "", fmt.Errorf("the dry run's posture findings: %+v, %d in Security Hub", rep.Findings, len(s.Hub.Findings()))
		}
		return "ok", fmt.Sprintf("would warn the owners of %s; would act on nothing before warnDays (%d) pass; skipped %s; would raise %d posture findings; nothing changed",
			warnedList(planned), rep.Policy.WarnDays, skipped(rep), rep.Findings.Raised), nil
	})
	do("cleanup, disable stage (scheduled event)", func() (string, string, error) {
		rep, err := d.cleanup(ctx, "cleanup-disable", scheduledEvent)
		if err != nil {
			return "error", "", err
		}
		if rep.Succeeded != 0 || rep.Marked != len(planned) {
			return "ok", "", fmt.Errorf("acted on %d, marked %d; the dry run planned %d warnings", rep.Succeeded, rep.Marked, len(planned))
		}
		marks := 0
		for _, it := range s.Marks.Items(LocalMarksTable) {
			if !strings.HasSuffix(it[marktable.AttrPK]["S"], "#findings") { // the findings' ledger shares the table
				marks++
			}
		}
		if n := marks; n != len(planned) {
			return "ok", "", fmt.Errorf("%d marks in the table, want %d", n, len(planned))
		}
		for _, w := range planned {
			if state := d.finding(w.Portal, w.AdminID, w.TokenID, posture.Unused); state != securityhub.StateActive {
				return "ok", "", fmt.Errorf("token %d's unused finding is %q in Security Hub", w.TokenID, state)
			}
		}
		return "ok", fmt.Sprintf("warned and marked %d tokens, each to be acted on no sooner than %s; disabled nothing; Security Hub: raised %d posture findings (%s)",
			rep.Marked, planned[0].ActOn.Format("2006-01-02"), rep.Findings.Raised, d.ruleCounts()), nil
	})
	do("14 days later: disable stage", func() (string, string, error) {
		s.PassDays(14.01)
		rep, err := d.cleanup(ctx, "cleanup-disable", scheduledEvent)
		if err != nil {
			return "error", "", err
		}
		if rep.Succeeded != len(planned) {
			return "ok", "", fmt.Errorf("disabled %d, %d were warned", rep.Succeeded, len(planned))
		}
		for _, w := range planned {
			portal := s.Portal
			if w.Portal == "globex" {
				portal = s.Globex
			}
			if tok, _ := portal.Token(w.TokenID); tok.Status != 1 {
				return "ok", "", fmt.Errorf("token %d is still enabled", w.TokenID)
			}
		}
		for _, w := range planned {
			if state := d.finding(w.Portal, w.AdminID, w.TokenID, posture.Unused); state != securityhub.StateArchived {
				return "ok", "", fmt.Errorf("token %d is disabled, but its unused finding is %q in Security Hub", w.TokenID, state)
			}
		}
		return "ok", fmt.Sprintf("(the sandbox's clock moved on) disabled %s, each warned 14 days before; Security Hub: their %d findings archived, %d raised",
			d.tokenList(rep), rep.Findings.Archived, rep.Findings.Raised), nil
	})
	current := created.ID // the token whose key the secret holds
	do("rotate the demo token's key", func() (string, string, error) {
		status, body, err := d.http(ctx, "create", "POST", "/admins/{adminId}/tokens/{tokenId}/rotate",
			map[string]string{"adminId": "2", "tokenId": fmt.Sprint(created.ID)}, "", nil)
		if err != nil || status != "202" {
			return status, body, orWant(err, "202")
		}
		if errs := s.Secrets.WaitRotations()[created.Secret.Name]; len(errs) == 0 || errs[len(errs)-1] != nil {
			return status, "", fmt.Errorf("the rotation failed: %v", errs)
		}
		sec, _ := s.Secrets.Get(created.Secret.Name)
		var key struct {
			TokenID   int64  `json:"tokenId"`
			AccessKey string `json:"accessKey"`
		}
		_ = json.Unmarshal([]byte(sec.Value), &key)
		next, ok := s.Portal.Token(key.TokenID)
		old, _ := s.Portal.Token(created.ID)
		switch {
		case key.TokenID == created.ID || !ok || next.AccessKey != key.AccessKey:
			return status, "", fmt.Errorf("AWSCURRENT does not hold a new token's key")
		case strings.Contains(body, key.AccessKey):
			return status, "", fmt.Errorf("the key is in the answer")
		case old.Status != 2:
			return status, "", fmt.Errorf("the old token was disabled at once")
		}
		current = key.TokenID
		return status, fmt.Sprintf("new token %d made, tested with its own key, promoted to AWSCURRENT of %s; old token %d still enabled for %v",
			current, created.Secret.Name, created.ID, LocalRotationGrace), nil
	})
	retired := func(fn string, want func(exists bool, status int) bool, did string) (string, string, error) {
		time.Sleep(LocalRotationGrace + 100*time.Millisecond)
		rep, err := d.cleanup(ctx, fn, scheduledEvent)
		if err != nil {
			return "error", "", err
		}
		old, exists := s.Portal.Token(created.ID)
		if !want(exists, old.Status) {
			return "ok", "", fmt.Errorf("token %d: exists %v, status %d", created.ID, exists, old.Status)
		}
		if tok, ok := s.Portal.Token(current); !ok || tok.Status != 2 {
			return "ok", "", fmt.Errorf("the new token %d was touched", current)
		}
		policy := ""
		if rep.Succeeded > 0 {
			policy = fmt.Sprintf("; the stage's own policy also acted on %s", d.tokenList(rep))
		}
		return "ok", fmt.Sprintf("%s rotated-out token %d (%d retired this run); new token %d untouched%s", did, created.ID, len(rep.Retired), current, policy), nil
	}
	do("after the grace period: disable stage", func() (string, string, error) {
		return retired("cleanup-disable", func(exists bool, status int) bool { return exists && status == 1 }, "disabled")
	})
	do("then: delete stage", func() (string, string, error) {
		return retired("cleanup-delete", func(exists bool, _ int) bool { return !exists }, "deleted")
	})
	do("delete the demo token", func() (string, string, error) {
		status, body, err := d.http(ctx, "delete", "DELETE", "/admins/{adminId}/tokens/{tokenId}",
			map[string]string{"adminId": "2", "tokenId": fmt.Sprint(current)}, "", nil)
		if err != nil || status != "200" {
			return status, body, orWant(err, "200")
		}
		if _, ok := s.Portal.Token(current); ok {
			return status, "", fmt.Errorf("the token is still in LogicMonitor")
		}
		sec, _ := s.Secrets.Get(created.Secret.Name)
		if sec.DeletedDate.IsZero() {
			return status, "", fmt.Errorf("its secret was not scheduled for deletion")
		}
		return status, fmt.Sprintf("token %d deleted; secret %s scheduled for deletion in %d days", current, created.Secret.Name, sec.RecoveryDays), nil
	})

	fmt.Fprintln(d.Out)
	if failed != "" {
		fmt.Fprintf(d.Out, "%s\n", d.red(fmt.Sprintf("demo failed at step %q", failed)))
		return fmt.Errorf("step %q failed: %v", failed, steps[len(steps)-1].err)
	}
	var total time.Duration
	for _, st := range steps {
		total += st.took
	}
	fmt.Fprintf(d.Out, "%s\n", d.green(fmt.Sprintf("all %d steps behaved as expected in %v; LogicMonitor requests served: %d; no key was printed",
		len(steps), total.Round(time.Millisecond), s.Portal.CountRequests(""))))
	return nil
}

var scheduledEvent = `{"version":"0","id":"demo","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-23T03:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/lmtokens-cleanup-disable"],"detail":{}}`

func orWant(err error, status string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("want %s", status)
}

// http invokes a function with an API Gateway REST event and returns the
// HTTP status and body of its answer.
func (d *Demo) http(ctx context.Context, fn, method, resource string, params map[string]string, body string, headers map[string]string) (string, string, error) {
	path := resource
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	ev := events.APIGatewayProxyRequest{
		Resource: resource, Path: path, HTTPMethod: method, PathParameters: params, Body: body, Headers: headers,
		RequestContext: events.APIGatewayProxyRequestContext{Stage: "demo", ResourcePath: resource, HTTPMethod: method, RequestID: "demo"},
	}
	raw, _ := json.Marshal(ev)
	res, err := d.Stack.Invoke(ctx, fn, raw)
	if err != nil {
		return "error", "", err
	}
	if res.Failed() {
		return "error", "", fmt.Errorf("function error %s: %s", res.ErrorType, res.ErrorMessage)
	}
	var out events.APIGatewayProxyResponse
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		return "error", "", fmt.Errorf("not a proxy response: %s", res.Payload)
	}
	return fmt.Sprint(out.StatusCode), out.Body, nil
}

func (d *Demo) cleanup(ctx context.Context, fn, event string) (cleanup.Report, error) {
	res, err := d.Stack.Invoke(ctx, fn, []byte(event))
	if err != nil {
		return cleanup.Report{}, err
	}
	if res.Failed() {
		return cleanup.Report{}, fmt.Errorf("function error %s: %s", res.ErrorType, res.ErrorMessage)
	}
	var rep cleanup.Report
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		return rep, fmt.Errorf("not a report: %s", res.Payload)
	}
	return rep, nil
}

func (d *Demo) tokenList(rep cleanup.Report) string {
	var parts []string
	for _, a := range rep.Actions {
		where := ""
		if a.Portal != "" {
			where = a.Portal + " "
		}
		parts = append(parts, fmt.Sprintf("%s%d %q (%s, %d days unused)", where, a.TokenID, a.Note, a.Type, a.DaysUnused))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func warnedList(ws []cleanup.Warning) string {
	var parts []string
	for _, w := range ws {
		where := ""
		if w.Portal != "" {
			where = w.Portal + " "
		}
		parts = append(parts, fmt.Sprintf("%s%d %q", where, w.TokenID, w.Note))
	}
	return strings.Join(parts, ", ")
}

func skipped(rep cleanup.Report) string {
	var parts []string
	for _, k := range []string{cleanup.SkipAwaitingWarning, cleanup.SkipFresh, cleanup.SkipKept, cleanup.SkipProtected, cleanup.SkipSelf} {
		if n := rep.Skipped[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// finding is the record state of a token's finding of rule in the local
// Security Hub ("" when there is none).
func (d *Demo) finding(portal string, adminID, tokenID int64, r posture.Rule) string {
	f := d.Stack.Hub.Findings()[posture.FindingID(portal, logicmonitor.Token{ID: tokenID, AdminID: adminID}, r)]
	if f == nil {
		return ""
	}
	return fmt.Sprint(f["RecordState"])
}

// ruleCounts says how many active findings each rule has in the local
// Security Hub.
func (d *Demo) ruleCounts() string {
	n := map[string]int{}
	for _, f := range d.Stack.Hub.Findings() {
		if f["RecordState"] == securityhub.StateActive {
			n[strings.TrimPrefix(fmt.Sprint(f["GeneratorId"]), "lmtokens/posture/")]++
		}
	}
	var parts []string
	for _, r := range posture.Rules {
		if n[r.ID] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.ID, n[r.ID]))
		}
	}
	return strings.Join(parts, ", ")
}

func (d *Demo) line(s step) {
	mark, status := d.green("✔"), s.status
	if s.err != nil {
		mark = d.red("✘")
	}
	detail := s.detail
	if s.err != nil {
		detail = s.err.Error()
		if s.detail != "" {
			detail += ": " + s.detail
		}
	}
	fmt.Fprintf(d.Out, "%s %-42s %-5s %6s  %s\n", mark, s.name, status, s.took.Round(time.Millisecond), detail)
}

func (d *Demo) paint(code, s string) string {
	if !d.Color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (d *Demo) green(s string) string { return d.paint("32", s) }
func (d *Demo) red(s string) string   { return d.paint("31", s) }
func (d *Demo) bold(s string) string  { return d.paint("1", s) }
