// Package securityhub imports findings into AWS Security Hub in the AWS
// Security Finding Format (ASFF) through BatchImportFindings, at most 100
// findings a call, on the account's default product (the one an account
// may import its own findings to without a partner integration).
package securityhub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lmtokens/lmtokens/pkg/awsjson"
)

// SchemaVersion is the ASFF version every finding is written in.
const SchemaVersion = "2018-10-08"

// MaxPerCall is BatchImportFindings' limit of findings per call.
const MaxPerCall = 100

// Record states: a finding whose cause is gone is archived.
const (
	StateActive   = "ACTIVE"
	StateArchived = "ARCHIVED"
)

// Severity labels.
const (
	Informational = "INFORMATIONAL"
	Low           = "LOW"
	Medium        = "MEDIUM"
	High          = "HIGH"
	Critical      = "CRITICAL"
)

// Finding is an ASFF finding, with the attributes lmtokens sets: every
// required top-level one, the remediation and the resource. It never holds
// a key: resources are named by ids.
type Finding struct {
	SchemaVersion string            `json:"SchemaVersion"`
	ID            string            `json:"Id"`
	ProductArn    string            `json:"ProductArn"`
	GeneratorID   string            `json:"GeneratorId"`
	AwsAccountID  string            `json:"AwsAccountId"`
	Types         []string          `json:"Types"`
	CreatedAt     string            `json:"CreatedAt"`
	UpdatedAt     string            `json:"UpdatedAt"`
	Severity      Severity          `json:"Severity"`
	Title         string            `json:"Title"`
	Description   string            `json:"Description"`
	Remediation   *Remediation      `json:"Remediation,omitempty"`
	ProductFields map[string]string `json:"ProductFields,omitempty"`
	Resources     []Resource        `json:"Resources"`
	RecordState   string            `json:"RecordState,omitempty"`
}

// Severity is a finding's severity label.
type Severity struct {
	Label string `json:"Label"`
}

// Remediation says in words what fixes the finding.
type Remediation struct {
	Recommendation Recommendation `json:"Recommendation"`
}

// Recommendation is a remediation's text (and where to read more).
type Recommendation struct {
	Text string `json:"Text"`
	URL  string `json:"Url,omitempty"`
}

// Resource is what a finding is about: here, a LogicMonitor API token,
// named by portal, user and token ids (type Other, with details).
type Resource struct {
	Type    string           `json:"Type"`
	ID      string           `json:"Id"`
	Region  string           `json:"Region,omitempty"`
	Details *ResourceDetails `json:"Details,omitempty"`
}

// ResourceDetails carries a resource's own fields.
type ResourceDetails struct {
	Other map[string]string `json:"Other,omitempty"`
}

// Stamp fills a finding's product, account, schema and times: created (and
// updated) now unless it was created before.
func (c *Client) Stamp(f *Finding, now time.Time) {
	f.SchemaVersion, f.ProductArn, f.AwsAccountID = SchemaVersion, c.ProductArn(), c.AccountID
	at := now.UTC().Format(time.RFC3339)
	if f.CreatedAt == "" {
		f.CreatedAt = at
	}
	f.UpdatedAt = at
	if f.RecordState == "" {
		f.RecordState = StateActive
	}
}

// Client imports findings of one account in one region.
type Client struct {
	API       *awsjson.Client
	AccountID string
	Region    string
	// Partition is the account's AWS partition (default aws).
	Partition string
}

// New returns a client of the Security Hub endpoint of region.
func New(endpoint, region, accountID string, creds aws.CredentialsProvider) *Client {
	if endpoint == "" {
		endpoint = "https://securityhub." + region + ".amazonaws.com"
	}
	return &Client{API: &awsjson.Client{Endpoint: endpoint, Region: region, Service: "securityhub", Credentials: creds}, AccountID: accountID, Region: region}
}

// ProductArn is the account's default product: the only one its own
// findings may be imported to, and the only resource the functions'
// permission names.
func (c *Client) ProductArn() string {
	if c.Partition != "" && c.Partition != "aws" {
		return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", c.Partition, c.Region, c.AccountID, c.AccountID)
	}
	return DefaultProductArn(c.Region, c.AccountID)
}

// DefaultProductArn is an account's default Security Hub product.
func DefaultProductArn(region, accountID string) string {
	return fmt.Sprintf("arn:aws:securityhub:%s:%s:product/%s/default", region, accountID, accountID)
}

// Result is what an import did.
type Result struct {
	Imported int
	Calls    int
	// Failed are the findings Security Hub refused, with why.
	Failed []Failure
}

// Failure is one refused finding.
type Failure struct {
	ID, Code, Message string
}

// post sends one batch, again after throttling, Security Hub's own
// trouble or a lost answer (at most three tries): an import is an upsert by
// Id, so a batch sent twice is imported once.
func (c *Client) post(ctx context.Context, batch []Finding, out any, calls *int) error {
	var err error
	for attempt := range 3 {
		*calls++
		if err = c.API.Post(ctx, "/findings/import", "BatchImportFindings", map[string]any{"Findings": batch}, out); err == nil {
			return nil
		}
		var ae *awsjson.Error
		if errors.As(err, &ae) && !ae.Retryable() {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}

// Import sends findings MaxPerCall at a time. A call that fails stops the
// import: what was sent before it stays imported (BatchImportFindings is an
// upsert by Id, so sending them all again is safe).
func (c *Client) Import(ctx context.Context, findings []Finding) (Result, error) {
	var r Result
	for start := 0; start < len(findings); start += MaxPerCall {
		batch := findings[start:min(start+MaxPerCall, len(findings))]
		var out struct {
			FailedCount    int `json:"FailedCount"`
			SuccessCount   int `json:"SuccessCount"`
			FailedFindings []struct {
				ErrorCode    string `json:"ErrorCode"`
				ErrorMessage string `json:"ErrorMessage"`
				ID           string `json:"Id"`
			} `json:"FailedFindings"`
		}
		if err := c.post(ctx, batch, &out, &r.Calls); err != nil {
			return r, fmt.Errorf("importing findings %d to %d of %d: %w", start+1, start+len(batch), len(findings), err)
		}
		r.Imported += out.SuccessCount
		for _, f := range out.FailedFindings {
			r.Failed = append(r.Failed, Failure{ID: f.ID, Code: f.ErrorCode, Message: f.ErrorMessage})
		}
	}
	return r, nil
}
