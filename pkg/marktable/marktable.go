// Package marktable keeps cleanup's warning marks in a DynamoDB table.
//
// One item per marked token: partition key pk = "<stage>#<portal>" (the
// default portal's name is empty), sort key sk = "<adminId>#<tokenId>", and
// the mark's times as epoch seconds. expiresAt, the table's TTL attribute,
// lets DynamoDB drop marks no run removed (a portal no longer registered)
// 90 days after their action date; TTL deletes lazily, so reads ignore
// expired items themselves. Every read is strongly consistent: a run acts
// on what the last run wrote.
//
// It speaks DynamoDB's JSON 1.0 protocol through pkg/awsjson (three
// operations: Query, PutItem, DeleteItem) rather than the SDK's client.
package marktable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/awsjson"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// Attribute names of an item.
const (
	AttrPK         = "pk"
	AttrSK         = "sk"
	AttrAccessID   = "accessId"
	AttrLastUse    = "lastUse"
	AttrEligibleOn = "eligibleOn"
	AttrWarnedAt   = "warnedAt"
	AttrActOn      = "actOn"
	// AttrExpiresAt is the table's TTL attribute.
	AttrExpiresAt = "expiresAt"
)

// Retention is how long after its action date a mark lives at most.
const Retention = 90 * 24 * time.Hour

// Table is one marks table.
type Table struct {
	API  *awsjson.Client
	Name string
	Now  func() time.Time
}

// New returns the table name at a DynamoDB endpoint.
func New(endpoint string, env awsenv.Env, name string) *Table {
	return &Table{API: &awsjson.Client{Endpoint: endpoint, Region: env.Region, Service: "dynamodb", Version: "1.0", Credentials: env.Credentials}, Name: name, Now: time.Now}
}

// FromEnv returns the table CLEANUP_MARKS_TABLE names, or nil, at
// AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL), else DynamoDB's
// regional endpoint.
func FromEnv(env awsenv.Env) *Table {
	name := os.Getenv(settings.CleanupMarksTable.Env)
	if name == "" {
		return nil
	}
	endpoint := awsenv.Endpoint("DYNAMODB")
	if endpoint == "" {
		endpoint = "https://dynamodb." + env.Region + ".amazonaws.com"
	}
	return New(endpoint, env, name)
}

// Scope returns one stage's marks for one portal ("" the default one).
func (t *Table) Scope(stage cleanup.Stage, portal string) cleanup.Marks {
	return &scope{t: t, pk: string(stage) + "#" + portal}
}

type scope struct {
	t  *Table
	pk string
}

type value map[string]string // one attribute value: {"S": "..."} or {"N": "..."}
type item map[string]value

func str(s string) value      { return value{"S": s} }
func num(n int64) value       { return value{"N": strconv.FormatInt(n, 10)} }
func epoch(t time.Time) value { return num(t.Unix()) }

func (s *scope) Load(ctx context.Context) ([]cleanup.Mark, error) {
	var marks []cleanup.Mark
	now := s.t.Now().Unix()
	err := s.query(ctx, func(it item) error {
		m, expires, err := decode(it)
		if err != nil {
			return err
		}
		if expires > now { // expired but not yet removed by TTL: gone
			marks = append(marks, m)
		}
		return nil
	})
	return marks, err
}

// query reads every item of the scope's partition, page by page, strongly
// consistent, handing each to each; an item each refuses fails the read.
func (s *scope) query(ctx context.Context, each func(item) error) error {
	var start item
	for {
		in := map[string]any{
			"TableName": s.t.Name, "ConsistentRead": true,
			"KeyConditionExpression":    "#pk = :pk",
			"ExpressionAttributeNames":  map[string]string{"#pk": AttrPK},
			"ExpressionAttributeValues": item{":pk": str(s.pk)},
		}
		if start != nil {
			in["ExclusiveStartKey"] = start
		}
		var out struct {
			Items            []item `json:"Items"`
			LastEvaluatedKey item   `json:"LastEvaluatedKey"`
		}
		if err := s.call(ctx, "Query", in, &out); err != nil {
			return err
		}
		for _, it := range out.Items {
			if err := each(it); err != nil {
				return fmt.Errorf("marks table %s: item %s/%s: %w", s.t.Name, it[AttrPK]["S"], it[AttrSK]["S"], err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

func (s *scope) Put(ctx context.Context, m cleanup.Mark) error {
	it := item{
		AttrPK: str(s.pk), AttrSK: str(sortKey(m)), AttrAccessID: str(m.AccessID), AttrLastUse: epoch(m.LastUse),
		AttrEligibleOn: epoch(m.EligibleOn), AttrWarnedAt: epoch(m.WarnedAt), AttrActOn: epoch(m.ActOn),
		AttrExpiresAt: epoch(m.ActOn.Add(Retention)),
	}
	in := map[string]any{
		"TableName": s.t.Name, "Item": it,
		// The first delivered warning for this last use counts: a second
		// run's mark does not move the action date.
		"ConditionExpression":       "attribute_not_exists(#pk) OR #lu <> :lu OR #exp <= :now",
		"ExpressionAttributeNames":  map[string]string{"#pk": AttrPK, "#lu": AttrLastUse, "#exp": AttrExpiresAt},
		"ExpressionAttributeValues": item{":lu": epoch(m.LastUse), ":now": epoch(s.t.Now())},
	}
	if err := s.call(ctx, "PutItem", in, nil); err != nil && !conditionFailed(err) {
		return err
	}
	return nil
}

func (s *scope) Remove(ctx context.Context, m cleanup.Mark) error {
	_, err := s.Take(ctx, m)
	return err
}

// Take deletes the mark only if it is the one this run read (same last
// use): another run's newer mark stays, and of two runs taking the same
// mark one gets it. A retry after a lost answer finds it gone and reports
// false: the token is then warned again, never acted on twice.
func (s *scope) Take(ctx context.Context, m cleanup.Mark) (bool, error) {
	in := map[string]any{
		"TableName": s.t.Name, "Key": item{AttrPK: str(s.pk), AttrSK: str(sortKey(m))},
		"ConditionExpression":       "#lu = :lu",
		"ExpressionAttributeNames":  map[string]string{"#lu": AttrLastUse},
		"ExpressionAttributeValues": item{":lu": epoch(m.LastUse)},
	}
	err := s.call(ctx, "DeleteItem", in, nil)
	if conditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// call makes one call, retrying throttling and DynamoDB's own failures a
// few times (every call here is idempotent).
func (s *scope) call(ctx context.Context, op string, in, out any) error {
	var err error
	for attempt := range 4 {
		if err = s.t.API.Call(ctx, "DynamoDB_20120810."+op, in, out); err == nil {
			return nil
		}
		var ae *awsjson.Error
		if !errors.As(err, &ae) || !ae.Retryable() {
			break
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
	return fmt.Errorf("marks table %s: %w", s.t.Name, err)
}

// conditionFailed says a conditional write found the item otherwise: the
// mark was already there (a put), or already gone (a take).
func conditionFailed(err error) bool {
	var ae *awsjson.Error
	return errors.As(err, &ae) && ae.Type == "ConditionalCheckFailedException"
}

func sortKey(m cleanup.Mark) string { return fmt.Sprintf("%d#%d", m.AdminID, m.TokenID) }

// decode reads an item; a mark without every attribute is an error (the
// run then acts on nothing rather than on a mark it cannot read).
func decode(it item) (cleanup.Mark, int64, error) {
	var m cleanup.Mark
	if _, err := fmt.Sscanf(it[AttrSK]["S"], "%d#%d", &m.AdminID, &m.TokenID); err != nil || m.AdminID <= 0 || m.TokenID <= 0 {
		return m, 0, errors.New("its sort key is not <adminId>#<tokenId>")
	}
	m.AccessID = it[AttrAccessID]["S"]
	times := map[string]*time.Time{AttrLastUse: &m.LastUse, AttrEligibleOn: &m.EligibleOn, AttrWarnedAt: &m.WarnedAt, AttrActOn: &m.ActOn}
	for name, dst := range times {
		n, err := strconv.ParseInt(it[name]["N"], 10, 64)
		if err != nil {
			return m, 0, fmt.Errorf("%s is not a number", name)
		}
		*dst = time.Unix(n, 0).UTC()
	}
	expires, err := strconv.ParseInt(it[AttrExpiresAt]["N"], 10, 64)
	if err != nil || m.AccessID == "" {
		return m, 0, errors.New("it lacks expiresAt or accessId")
	}
	return m, expires, nil
}
