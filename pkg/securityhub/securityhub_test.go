package securityhub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lmtokens/lmtokens/pkg/local/localsecurityhub"
	"github.com/lmtokens/lmtokens/pkg/securityhub"
)

const account, region = "123456789012", "us-east-1"

func finding(c *securityhub.Client, id string) securityhub.Finding {
	f := securityhub.Finding{
		ID: id, GeneratorID: "lmtokens/unused", Types: []string{"Software and Configuration Checks/Industry and Regulatory Standards"},
		Severity: securityhub.Severity{Label: securityhub.Medium}, Title: "LogicMonitor API token unused for 120 days",
		Description: "token 7 of user 2 in portal acme was last used 120 days ago",
		Remediation: &securityhub.Remediation{Recommendation: securityhub.Recommendation{Text: "disable it: PATCH /admins/2/tokens/7 {\"status\":1}"}},
		Resources:   []securityhub.Resource{{Type: "Other", ID: "lmtokens:acme:2:7", Region: region}},
	}
	c.Stamp(&f, time.Now())
	return f
}

// Findings go in MaxPerCall at a time, signed for securityhub, on the
// account's default product; the stand-in holds each to ASFF's required
// attributes and reports what it refuses as Security Hub does.
func TestImportAgainstTheStandIn(t *testing.T) {
	hub := localsecurityhub.Start(account, region)
	defer hub.Close()
	c := securityhub.New(hub.URL, region, account, credentials.NewStaticCredentialsProvider("AKID", "secret", ""))
	if got := c.ProductArn(); got != "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default" {
		t.Fatalf("default product %s", got)
	}
	var fs []securityhub.Finding
	for i := range 250 {
		fs = append(fs, finding(c, fmt.Sprintf("lmtokens/acme/2/%d/unused", i)))
	}
	r, err := c.Import(context.Background(), fs)
	calls, largest := hub.Calls()
	if err != nil || r.Imported != 250 || r.Calls != 3 || calls != 3 || largest != securityhub.MaxPerCall || len(r.Failed) != 0 {
		t.Fatalf("import: %+v %v; %d calls, largest %d", r, err, calls, largest)
	}

	// Each required attribute, and the default product, is enforced.
	for what, spoil := range map[string]func(*securityhub.Finding){
		"no title":            func(f *securityhub.Finding) { f.Title = "" },
		"no description":      func(f *securityhub.Finding) { f.Description = "" },
		"no generator":        func(f *securityhub.Finding) { f.GeneratorID = "" },
		"another product":     func(f *securityhub.Finding) { f.ProductArn = "arn:aws:securityhub:us-east-1::product/aws/guardduty" },
		"a bad severity":      func(f *securityhub.Finding) { f.Severity.Label = "SEVERE" },
		"a type out of ASFF":  func(f *securityhub.Finding) { f.Types = []string{"Hygiene/Tokens"} },
		"no resource":         func(f *securityhub.Finding) { f.Resources = nil },
		"a bad schema":        func(f *securityhub.Finding) { f.SchemaVersion = "2020-01-01" },
		"a time not ISO 8601": func(f *securityhub.Finding) { f.UpdatedAt = "yesterday" },
		"a long title":        func(f *securityhub.Finding) { f.Title = strings.Repeat("t", 257) },
	} {
		f := finding(c, "lmtokens/bad/"+what)
		spoil(&f)
		r, err := c.Import(context.Background(), []securityhub.Finding{f})
		if err != nil || r.Imported != 0 || len(r.Failed) != 1 || r.Failed[0].ID != f.ID {
			t.Errorf("%s: %+v %v", what, r, err)
		}
	}
	if n := len(hub.Findings()); n != 250 {
		t.Errorf("%d findings kept, want the 250 good ones", n)
	}
	// Archiving is an import of the same Id with RecordState ARCHIVED.
	f := finding(c, "lmtokens/acme/2/0/unused")
	f.RecordState = securityhub.StateArchived
	if r, err := c.Import(context.Background(), []securityhub.Finding{f}); err != nil || r.Imported != 1 || hub.Findings()[f.ID]["RecordState"] != "ARCHIVED" {
		t.Fatalf("archive: %+v %v", r, err)
	}
	// An unsigned caller is refused.
	unsigned := securityhub.New(hub.URL, region, account, credentials.NewStaticCredentialsProvider("AKID", "secret", ""))
	unsigned.API.Service = "events"
	if _, err := unsigned.Import(context.Background(), []securityhub.Finding{f}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("a request signed for another service: %v", err)
	}
}
