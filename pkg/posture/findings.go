package posture

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Finding is one token's breach of one rule, as a run reports it: active
// while the cause lasts, archived on the first run after it is gone. It
// names the token by its ids; it never holds a key.
type Finding struct {
	ID       string
	Rule     Rule
	Portal   string // "" is the default portal
	AdminID  int64
	TokenID  int64
	AccessID string
	// AdminName and Type describe the token as its listing did.
	AdminName, Type string
	// Detail says how the token breaks the rule (for an archived finding:
	// that the cause is gone).
	Detail string
	// Call is the lmtokens request that fixes it.
	Call string
	// FirstSeen is when a run first reported it (its CreatedAt).
	FirstSeen time.Time
	Archived  bool
}

// Found is t's finding of violation v in portal.
func Found(portal string, t logicmonitor.Token, v Violation) Finding {
	return Finding{ID: FindingID(portal, t, v.Rule), Rule: v.Rule, Portal: portal, AdminID: t.AdminID, TokenID: t.ID, AccessID: t.AccessID,
		AdminName: t.AdminName, Type: t.Type, Detail: v.Detail, Call: v.Rule.Call(portal, t)}
}

// Raised is what a ledger keeps of a finding a run reported active: enough
// to archive it when a later run no longer finds it.
type Raised struct {
	ID, RuleID                string
	AdminID, TokenID          int64
	AccessID, AdminName, Type string
	FirstSeen, ReportedAt     time.Time
}

// Ledger remembers the findings a portal's runs reported active, so that a
// later run archives those whose cause is gone without asking Security Hub
// (the functions may only import findings, not read them).
type Ledger interface {
	// Load returns every finding reported active and not yet archived:
	// all of them, or an error.
	Load(ctx context.Context) ([]Raised, error)
	Put(ctx context.Context, r Raised) error
	Remove(ctx context.Context, r Raised) error
}

// LedgerStore gives each portal its ledger.
type LedgerStore interface {
	Ledger(portal string) Ledger
}

// Reporter imports findings (active and archived) into Security Hub.
type Reporter interface {
	Report(ctx context.Context, findings []Finding, now time.Time) (Reported, error)
}

// Reported is what an import did.
type Reported struct {
	Imported, Calls int
	// Refused are the findings Security Hub refused, by id, with why.
	Refused map[string]string
}

// RefreshAfter is how often a finding that lasts is imported again:
// Security Hub deletes a finding 90 days after its last update, so a
// lasting cause is reported well within that, and not on every run. Each
// finding waits a further 0 to 14 days, by its id, so that findings raised
// on one day are not all refreshed on one later day.
const RefreshAfter = 30 * 24 * time.Hour

// refreshDue says whether a finding reported at r.ReportedAt is due again.
func refreshDue(r Raised, now time.Time) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.ID))
	spread := time.Duration(h.Sum32()%15) * 24 * time.Hour
	return now.Sub(r.ReportedAt) >= RefreshAfter+spread
}

// Plan decides what a run imports: each current finding not in the
// ledger (raised), or reported longer than RefreshAfter ago (refreshed),
// and each ledger entry no current finding matches (archived). Keep are the
// ledger entries to write once their findings were imported, drop those to
// remove.
type Plan struct {
	Send       []Finding
	Keep, Drop []Raised
	Raised     int
	Refreshed  int
	Archived   int
}

// Decide makes the plan of a portal's run that found current and whose
// ledger held raised, at now.
func Decide(portal string, current []Finding, raised []Raised, now time.Time) Plan {
	var p Plan
	known := make(map[string]Raised, len(raised))
	for _, r := range raised {
		known[r.ID] = r
	}
	seen := make(map[string]bool, len(current))
	for _, f := range current {
		if seen[f.ID] {
			continue
		}
		seen[f.ID] = true
		r, ok := known[f.ID]
		switch {
		case !ok:
			f.FirstSeen = now
			p.Raised++
		case refreshDue(r, now):
			f.FirstSeen = r.FirstSeen
			p.Refreshed++
		default:
			continue
		}
		p.Send = append(p.Send, f)
		p.Keep = append(p.Keep, Raised{ID: f.ID, RuleID: f.Rule.ID, AdminID: f.AdminID, TokenID: f.TokenID, AccessID: f.AccessID,
			AdminName: f.AdminName, Type: f.Type, FirstSeen: f.FirstSeen, ReportedAt: now})
	}
	for _, r := range raised {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		p.Archived++
		rule := RuleByID(r.RuleID)
		p.Send = append(p.Send, Finding{ID: r.ID, Rule: rule, Portal: portal, AdminID: r.AdminID, TokenID: r.TokenID, AccessID: r.AccessID,
			AdminName: r.AdminName, Type: r.Type, FirstSeen: r.FirstSeen, Archived: true,
			Detail: "its cause is gone: the token was fixed, disabled or deleted", Call: rule.Call(portal, logicmonitor.Token{ID: r.TokenID, AdminID: r.AdminID})})
		p.Drop = append(p.Drop, r)
	}
	return p
}

// RuleByID is the rule of that id; a rule a later release no longer has
// keeps its id, so its findings can still be archived.
func RuleByID(id string) Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return Rule{ID: id, Severity: Low, Title: fmt.Sprintf("LogicMonitor API token finding of rule %s (no longer checked)", id),
		Fix: "nothing: lmtokens no longer checks this rule", call: func(t logicmonitor.Token) string { return fmt.Sprintf("GET /admins/%d/tokens/%d", t.AdminID, t.ID) }}
}
