package marktable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/posture"
)

// The ledger of posture findings reported active lives beside the disable
// stage's marks: partition key "disable#<portal>#findings" (a portal's name
// holds no '#', so it is no portal's marks), sort key the finding's id. The
// disable function's dynamodb:LeadingKeys condition ("disable#*") covers it.
// Its items have no expiresAt: an entry leaves when its finding is
// archived, or it would never be.
const (
	AttrRule       = "rule"
	AttrAdminID    = "adminId"
	AttrTokenID    = "tokenId"
	AttrAdminName  = "adminName"
	AttrType       = "type"
	AttrFirstSeen  = "firstSeen"
	AttrReportedAt = "reportedAt"
)

// Ledger returns the posture findings' ledger of portal ("" the default).
func (t *Table) Ledger(portal string) posture.Ledger {
	return &ledger{scope{t: t, pk: string(cleanup.StageDisable) + "#" + portal + "#findings"}}
}

type ledger struct{ scope }

func (l *ledger) Load(ctx context.Context) ([]posture.Raised, error) {
	var out []posture.Raised
	err := l.query(ctx, func(it item) error {
		r, err := decodeRaised(it)
		out = append(out, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put writes the entry whole: a later report's time replaces an earlier's.
func (l *ledger) Put(ctx context.Context, r posture.Raised) error {
	it := item{
		AttrPK: str(l.pk), AttrSK: str(r.ID), AttrRule: str(r.RuleID), AttrAdminID: num(r.AdminID), AttrTokenID: num(r.TokenID),
		AttrAccessID: str(r.AccessID), AttrFirstSeen: epoch(r.FirstSeen), AttrReportedAt: epoch(r.ReportedAt),
	}
	if r.AdminName != "" {
		it[AttrAdminName] = str(r.AdminName)
	}
	if r.Type != "" {
		it[AttrType] = str(r.Type)
	}
	return l.call(ctx, "PutItem", map[string]any{"TableName": l.t.Name, "Item": it}, nil)
}

// Remove deletes the entry only if no run reported it since this one read
// it: a finding another run raised again stays to be archived later.
func (l *ledger) Remove(ctx context.Context, r posture.Raised) error {
	in := map[string]any{
		"TableName": l.t.Name, "Key": item{AttrPK: str(l.pk), AttrSK: str(r.ID)},
		"ConditionExpression":       "#at = :at",
		"ExpressionAttributeNames":  map[string]string{"#at": AttrReportedAt},
		"ExpressionAttributeValues": item{":at": epoch(r.ReportedAt)},
	}
	if err := l.call(ctx, "DeleteItem", in, nil); err != nil && !conditionFailed(err) {
		return err
	}
	return nil
}

func decodeRaised(it item) (posture.Raised, error) {
	r := posture.Raised{ID: it[AttrSK]["S"], RuleID: it[AttrRule]["S"], AccessID: it[AttrAccessID]["S"], AdminName: it[AttrAdminName]["S"], Type: it[AttrType]["S"]}
	nums := map[string]*int64{}
	var first, reported int64
	nums[AttrAdminID], nums[AttrTokenID], nums[AttrFirstSeen], nums[AttrReportedAt] = &r.AdminID, &r.TokenID, &first, &reported
	for name, dst := range nums {
		n, err := strconv.ParseInt(it[name]["N"], 10, 64)
		if err != nil {
			return r, fmt.Errorf("%s is not a number", name)
		}
		*dst = n
	}
	if r.ID == "" || r.RuleID == "" || r.AdminID <= 0 || r.TokenID <= 0 {
		return r, errors.New("it lacks its id, rule, or user and token ids")
	}
	r.FirstSeen, r.ReportedAt = time.Unix(first, 0).UTC(), time.Unix(reported, 0).UTC()
	return r, nil
}
