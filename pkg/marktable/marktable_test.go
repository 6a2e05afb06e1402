package marktable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/posture"
)

func table(t *testing.T) (*marktable.Table, *localdynamo.Server) {
	srv := localdynamo.Start()
	t.Cleanup(srv.Close)
	srv.CreateTable("marks", localdynamo.Table{PK: marktable.AttrPK, SK: marktable.AttrSK})
	tab := marktable.New(srv.URL, awsenv.Env{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")}, "marks")
	return tab, srv
}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func mark(token int64, lastUse time.Time) cleanup.Mark {
	return cleanup.Mark{AdminID: 2, TokenID: token, AccessID: "A", LastUse: lastUse, EligibleOn: t0, WarnedAt: t0, ActOn: t0.Add(14 * 24 * time.Hour)}
}

// Marks round-trip through DynamoDB's wire protocol, scoped per stage and
// portal, paged, and the first warning's mark for a last use counts.
func TestMarksRoundTrip(t *testing.T) {
	t.Parallel()
	tab, srv := table(t)
	srv.PageSize = 2
	ctx := context.Background()
	disable, other := tab.Scope(cleanup.StageDisable, ""), tab.Scope(cleanup.StageDelete, "emea")
	for id := int64(1); id <= 5; id++ {
		if err := disable.Put(ctx, mark(id, t0.Add(-100*24*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	other.Put(ctx, mark(9, t0))
	later := mark(1, t0.Add(-100*24*time.Hour))
	later.WarnedAt = t0.Add(24 * time.Hour)
	disable.Put(ctx, later) // a second run's warning: the first mark stays
	got, err := disable.Load(ctx)
	if err != nil || len(got) != 5 || srv.Calls("Query") != 3 {
		t.Fatalf("%d marks, %d queries, %v", len(got), srv.Calls("Query"), err)
	}
	for _, m := range got {
		if m.TokenID == 1 && !m.WarnedAt.Equal(t0) {
			t.Fatalf("a later warning moved the first mark: %+v", m)
		}
	}
	// A use since makes a new mark replace the old one; removing the old
	// one then leaves the new one.
	used := mark(1, t0)
	disable.Put(ctx, used)
	disable.Remove(ctx, mark(1, t0.Add(-100*24*time.Hour)))
	got, _ = disable.Load(ctx)
	found := false
	for _, m := range got {
		found = found || (m.TokenID == 1 && m.LastUse.Equal(t0))
	}
	if !found {
		t.Fatal("a stale remove deleted a newer mark")
	}
	// An item past its TTL is ignored even though DynamoDB has not removed it.
	srv.Update("marks", func(it localdynamo.Item) {
		if it[marktable.AttrSK]["S"] == "2#2" {
			it[marktable.AttrExpiresAt] = localdynamo.Value{"N": "1"}
		}
	})
	if got, _ := disable.Load(ctx); len(got) != 4 {
		t.Fatalf("an expired mark was read: %d", len(got))
	}
	// Every item carries the TTL attribute, 90 days after its action date.
	for _, it := range srv.Items("marks") {
		act, exp := it[marktable.AttrActOn]["N"], it[marktable.AttrExpiresAt]["N"]
		if exp == "1" {
			continue // the one expired above
		}
		if want := fmt.Sprint(t0.Add(14 * 24 * time.Hour).Add(marktable.Retention).Unix()); exp != want || marktable.Retention != 90*24*time.Hour || act == "" {
			t.Fatalf("expiresAt %s, want %s (actOn %s + 90 days)", exp, want, act)
		}
	}
}

// A table that cannot be read is an error naming it, never an empty list.
func TestUnreadableTableIsAnError(t *testing.T) {
	t.Parallel()
	tab, srv := table(t)
	tab.Name = "missing"
	if got, err := tab.Scope(cleanup.StageDisable, "").Load(context.Background()); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") || got != nil {
		t.Fatalf("%v %v", got, err)
	}
	tab.Name = "marks"
	srv.Fail("Query", 2) // retried
	if _, err := tab.Scope(cleanup.StageDisable, "").Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Update("marks", func(localdynamo.Item) {})
	tab.Scope(cleanup.StageDisable, "").Put(context.Background(), mark(1, t0))
	srv.Update("marks", func(it localdynamo.Item) { delete(it, marktable.AttrLastUse) })
	if _, err := tab.Scope(cleanup.StageDisable, "").Load(context.Background()); err == nil {
		t.Fatal("a damaged mark was read as fine")
	}
}

// A write whose answer is lost after DynamoDB carried it out is retried,
// and the retry's failed condition is the write having happened: no error,
// one mark; the same for a removal.
func TestLostAnswersAreWritesThatHappened(t *testing.T) {
	t.Parallel()
	tab, srv := table(t)
	ctx := context.Background()
	sc := tab.Scope(cleanup.StageDisable, "")
	srv.LoseAnswers("PutItem", 1)
	if err := sc.Put(ctx, mark(1, t0)); err != nil || len(srv.Items("marks")) != 1 || srv.Calls("PutItem") != 2 {
		t.Fatalf("put: %v, %d items, %d calls", err, len(srv.Items("marks")), srv.Calls("PutItem"))
	}
	srv.LoseAnswers("DeleteItem", 1)
	if err := sc.Remove(ctx, mark(1, t0)); err != nil || len(srv.Items("marks")) != 0 || srv.Calls("DeleteItem") != 2 {
		t.Fatalf("remove: %v, %d items", err, len(srv.Items("marks")))
	}
}

// The findings' ledger round-trips beside the marks without mixing with
// them; a removal of an entry another run reported since leaves it.
func TestFindingsLedger(t *testing.T) {
	t.Parallel()
	tab, srv := table(t)
	srv.PageSize = 2
	ctx := context.Background()
	ledger, marks := tab.Ledger("emea"), tab.Scope(cleanup.StageDisable, "emea")
	if err := marks.Put(ctx, mark(1, t0)); err != nil {
		t.Fatal(err)
	}
	var put []posture.Raised
	for id := int64(1); id <= 3; id++ {
		r := posture.Raised{ID: fmt.Sprintf("lmtokens/emea/2/%d/unused", id), RuleID: "unused", AdminID: 2, TokenID: id, AccessID: "A", AdminName: "ci", Type: "lmv1", FirstSeen: t0, ReportedAt: t0}
		if err := ledger.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		put = append(put, r)
	}
	got, err := ledger.Load(ctx)
	if err != nil || len(got) != 3 || got[0] != put[0] {
		t.Fatalf("ledger %+v %v", got, err)
	}
	if m, err := marks.Load(ctx); err != nil || len(m) != 1 {
		t.Fatalf("the marks of the same portal: %+v %v", m, err)
	}
	if other, err := tab.Ledger("").Load(ctx); err != nil || len(other) != 0 {
		t.Fatalf("another portal's ledger: %+v %v", other, err)
	}
	again := put[1]
	again.ReportedAt = t0.Add(time.Hour) // another run reported it since
	_ = ledger.Put(ctx, again)
	if err := ledger.Remove(ctx, put[1]); err != nil {
		t.Fatal(err)
	}
	if err := ledger.Remove(ctx, put[0]); err != nil {
		t.Fatal(err)
	}
	got, _ = ledger.Load(ctx)
	if len(got) != 2 || got[0].TokenID != 2 || !got[0].ReportedAt.Equal(again.ReportedAt) {
		t.Fatalf("after removals: %+v", got)
	}
}
