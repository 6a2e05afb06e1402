package securityhub

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/clip"
	"github.com/lmtokens/lmtokens/pkg/posture"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// FindingType is the ASFF type of every posture finding.
const FindingType = "Software and Configuration Checks/Industry and Regulatory Standards/LogicMonitor API token hygiene"

// ResourceID names a token as a finding's resource: portal ("default" for
// the default one), user and token ids.
func ResourceID(portal string, adminID, tokenID int64) string {
	if portal == "" {
		portal = "default"
	}
	return fmt.Sprintf("logicmonitor:%s:admin/%d/apitoken/%d", portal, adminID, tokenID)
}

// ASFF is f as an ASFF finding of this client's account, updated at now.
// It carries the token's ids, its user's name and the fix; a posture
// finding has no key to carry.
func (c *Client) ASFF(f posture.Finding, now time.Time) Finding {
	portal := f.Portal
	if portal == "" {
		portal = "default"
	}
	who := fmt.Sprintf("token %d (access id %s) of user %d", f.TokenID, f.AccessID, f.AdminID)
	if f.AdminName != "" {
		who = fmt.Sprintf("token %d (access id %s) of user %s (%d)", f.TokenID, f.AccessID, f.AdminName, f.AdminID)
	}
	other := map[string]string{"portal": portal, "adminId": strconv.FormatInt(f.AdminID, 10), "tokenId": strconv.FormatInt(f.TokenID, 10), "accessId": f.AccessID}
	if f.AdminName != "" {
		other["adminName"] = f.AdminName
	}
	if f.Type != "" {
		other["type"] = f.Type
	}
	out := Finding{
		ID: f.ID, GeneratorID: "lmtokens/posture/" + f.Rule.ID, Types: []string{FindingType},
		Severity:      Severity{Label: f.Rule.Severity},
		Title:         clip.Text(f.Rule.Title, 256),
		Description:   clip.Text(fmt.Sprintf("LogicMonitor portal %s: %s: %s.", portal, who, f.Detail), 1024),
		Remediation:   &Remediation{Recommendation: Recommendation{Text: clip.Text(f.Rule.Fix+". The lmtokens call: "+f.Call, 512)}},
		ProductFields: map[string]string{"lmtokens/rule": f.Rule.ID, "lmtokens/call": clip.Text(f.Call, 256)},
		Resources:     []Resource{{Type: "Other", ID: ResourceID(f.Portal, f.AdminID, f.TokenID), Region: c.Region, Details: &ResourceDetails{Other: other}}},
		RecordState:   StateActive,
	}
	if f.Archived {
		out.RecordState = StateArchived
	}
	if !f.FirstSeen.IsZero() {
		out.CreatedAt = f.FirstSeen.UTC().Format(time.RFC3339)
	}
	c.Stamp(&out, now)
	return out
}

// Report imports findings as ASFF: the posture.Reporter the disable stage
// calls.
func (c *Client) Report(ctx context.Context, findings []posture.Finding, now time.Time) (posture.Reported, error) {
	fs := make([]Finding, len(findings))
	for i, f := range findings {
		fs[i] = c.ASFF(f, now)
	}
	r, err := c.Import(ctx, fs)
	out := posture.Reported{Imported: r.Imported, Calls: r.Calls}
	for _, f := range r.Failed {
		if out.Refused == nil {
			out.Refused = map[string]string{}
		}
		out.Refused[f.ID] = f.Code + ": " + f.Message
	}
	return out, err
}

// FromEnv returns the client SECURITY_HUB_PRODUCT_ARN names (the
// account's default product; unset: nil, no findings), at
// AWS_ENDPOINT_URL_SECURITYHUB (or AWS_ENDPOINT_URL), else Security Hub's
// regional endpoint.
func FromEnv(env awsenv.Env) (*Client, error) {
	arn := os.Getenv(settings.SecurityHubProduct.Env)
	if arn == "" {
		return nil, nil
	}
	partition, region, account, err := ParseProductArn(arn)
	if err != nil {
		return nil, err
	}
	c := New(awsenv.Endpoint("SECURITYHUB"), region, account, env.Credentials)
	c.Partition = partition
	return c, nil
}

// ParseProductArn reads an account's default product ARN, refusing any
// other (the functions import to their own account's default product
// alone).
func ParseProductArn(arn string) (partition, region, account string, err error) {
	parts := strings.Split(arn, ":")
	ok := len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") && parts[2] == "securityhub" && parts[3] != "" && len(parts[4]) == 12 &&
		parts[5] == "product/"+parts[4]+"/default"
	if !ok {
		return "", "", "", fmt.Errorf("%s %q is not an account's default Security Hub product (arn:aws:securityhub:<region>:<account>:product/<account>/default)", settings.SecurityHubProduct.Env, arn)
	}
	return parts[1], parts[3], parts[4], nil
}
