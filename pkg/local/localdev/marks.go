package localdev

import (
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
	"github.com/lmtokens/lmtokens/pkg/marktable"
)

// LocalMarksTable is the warnings' marks table of a local stack.
const LocalMarksTable = "lmtokens-local-marks"

// StartMarks starts a local DynamoDB holding an empty marks table named
// table, keyed as the stack's table is.
func StartMarks(table string) *localdynamo.Server {
	db := localdynamo.Start()
	db.CreateTable(table, localdynamo.Table{PK: marktable.AttrPK, SK: marktable.AttrSK})
	return db
}

// AgeMarks makes d pass for the marks in table: every time a mark holds
// moves d into the past, as PassTime does for a sandbox's tokens.
func AgeMarks(db *localdynamo.Server, table string, d time.Duration) {
	shift := int64(d / time.Second)
	db.Update(table, func(it localdynamo.Item) {
		for _, a := range []string{marktable.AttrLastUse, marktable.AttrEligibleOn, marktable.AttrWarnedAt, marktable.AttrActOn, marktable.AttrExpiresAt} {
			if n, err := strconv.ParseInt(it[a]["N"], 10, 64); err == nil {
				it[a] = localdynamo.Value{"N": strconv.FormatInt(n-shift, 10)}
			}
		}
	})
}

// PassDays lets n days pass for the stack's portals and marks.
func (s *Stack) PassDays(n float64) {
	d := time.Duration(n * float64(24*time.Hour))
	for _, p := range []*lmsandbox.Portal{s.Portal, s.Globex} {
		if p != nil {
			p.PassTime(d)
		}
	}
	if s.Marks != nil {
		AgeMarks(s.Marks, LocalMarksTable, d)
	}
}
