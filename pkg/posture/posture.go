// Package posture holds the rules by which a LogicMonitor API token is a
// posture finding: what is wrong, how severe, what fixes it in words and as
// the lmtokens call that fixes it. The rules decide from the token's record
// and the facts a run gathered (its portal's policy, its owner, its key);
// they never see a key. Reporting them (Security Hub) is the domain's.
package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Severity labels, as Security Hub names them.
const (
	Low    = "LOW"
	Medium = "MEDIUM"
	High   = "HIGH"
)

// Rule is one posture rule.
type Rule struct {
	// ID names the rule in a finding's id and GeneratorId.
	ID       string
	Severity string
	// Title is the finding's title; Fix says what fixes it.
	Title, Fix string
	// call is the lmtokens request that fixes it, for a token.
	call func(t logicmonitor.Token) string
}

// Call is the lmtokens request that fixes the finding of t.
func (r Rule) Call(portal string, t logicmonitor.Token) string {
	prefix := ""
	if portal != "" {
		prefix = "/portals/" + portal
	}
	return strings.Replace(r.call(t), " /", " "+prefix+"/", 1)
}

func disable(t logicmonitor.Token) string {
	return fmt.Sprintf(`PATCH /admins/%d/tokens/%d {"status":1}`, t.AdminID, t.ID)
}

func remove(t logicmonitor.Token) string {
	return fmt.Sprintf("DELETE /admins/%d/tokens/%d", t.AdminID, t.ID)
}

func rotate(t logicmonitor.Token) string {
	return fmt.Sprintf("POST /admins/%d/tokens/%d/rotate", t.AdminID, t.ID)
}

// The rules.
var (
	Unused = Rule{ID: "unused", Severity: Medium, Title: "LogicMonitor API token unused past the cleanup policy",
		Fix: "disable it (the cleanup stages will, after warning its owner), or mark its note #keep if it must stay", call: disable}
	OverMaxLifetime = Rule{ID: "over-max-lifetime", Severity: Medium, Title: "LogicMonitor API token older than its portal's maximum lifetime",
		Fix: "replace it with a token created with a lifetime under the cap, then delete it", call: remove}
	NotRotated = Rule{ID: "not-rotated", Severity: Low, Title: "LogicMonitor API token not rotated for 365 days",
		Fix: "rotate its key (for a key lmtokens stores), or replace it", call: rotate}
	AdminOwner = Rule{ID: "administrator-owner", Severity: High, Title: "LogicMonitor API token held by a user with the Administrator role",
		Fix: "move the integration to an API-only user with the least role it needs, then delete this token", call: remove}
	SupportOwner = Rule{ID: "lmsupport-owner", Severity: High, Title: "LogicMonitor API token held by the lmsupport user",
		Fix: "delete it: LogicMonitor advises removing lmsupport's tokens", call: remove}
	OwnerSuspended = Rule{ID: "owner-suspended", Severity: High, Title: "LogicMonitor API token of a suspended or removed user",
		Fix: "disable it (the disable stage does on its next run), then delete it", call: disable}
	KeyMissing = Rule{ID: "key-missing", Severity: Medium, Title: "LogicMonitor API token made by lmtokens whose stored key is missing",
		Fix: "delete it: no one can use its key as lmtokens promised, and nothing will rotate it", call: remove}
)

// Rules are every rule, in the order the README's table lists them.
var Rules = []Rule{Unused, OverMaxLifetime, NotRotated, AdminOwner, SupportOwner, OwnerSuspended, KeyMissing}

// Facts are what a run knows of a token besides its record.
type Facts struct {
	Now time.Time
	// UnusedDays is the disable stage's policy (0: the rule is off);
	// Spared says the policy spares the token whatever its use (its keep
	// marker, a protected access id, the functions' own token).
	UnusedDays int
	Spared     bool
	// MaxLifetimeDays is the portal's cap (0: none).
	MaxLifetimeDays int
	// OwnerInactive says why its owner is inactive ("": active).
	OwnerInactive string
	// MadeByLmtokens says lmtokens made it; KeyStored that a key secret
	// holds its key.
	MadeByLmtokens, KeyStored bool
}

// Violation is a rule a token breaks, and the detail of how.
type Violation struct {
	Rule   Rule
	Detail string
}

const day = 24 * time.Hour

// Evaluate returns the rules t breaks. A record lacking the field a rule
// needs is not judged by that rule.
func Evaluate(t logicmonitor.Token, f Facts) []Violation {
	var out []Violation
	lastUse := t.LastUsedOn
	if lastUse == 0 {
		lastUse = t.CreatedOn
	}
	if f.UnusedDays > 0 && !f.Spared && lastUse > 0 && f.Now.Sub(time.Unix(lastUse, 0)) > time.Duration(f.UnusedDays)*day {
		out = append(out, Violation{Unused, fmt.Sprintf("last used (or made) %d days ago; the policy allows %d", int(f.Now.Sub(time.Unix(lastUse, 0))/day), f.UnusedDays)})
	}
	age := time.Duration(0)
	if t.CreatedOn > 0 {
		age = f.Now.Sub(time.Unix(t.CreatedOn, 0))
	}
	if f.MaxLifetimeDays > 0 && age > time.Duration(f.MaxLifetimeDays)*day {
		out = append(out, Violation{OverMaxLifetime, fmt.Sprintf("made %d days ago; the portal's maximum lifetime is %d days", int(age/day), f.MaxLifetimeDays)})
	}
	if age > 365*day {
		out = append(out, Violation{NotRotated, fmt.Sprintf("its key is %d days old", int(age/day))})
	}
	if slices.ContainsFunc(t.Roles, func(r string) bool { return strings.EqualFold(r, "administrator") }) {
		out = append(out, Violation{AdminOwner, "its user " + t.AdminName + " has the Administrator role"})
	}
	if strings.EqualFold(t.AdminName, "lmsupport") {
		out = append(out, Violation{SupportOwner, "its user is lmsupport"})
	}
	if f.OwnerInactive != "" {
		out = append(out, Violation{OwnerSuspended, "its owner " + f.OwnerInactive})
	}
	if f.MadeByLmtokens && !f.KeyStored {
		out = append(out, Violation{KeyMissing, "lmtokens made it, and no key secret holds its key"})
	}
	return out
}

// FindingID names a token's finding of one rule, stable across runs, so
// that a run updates (or archives) the finding an earlier run raised.
func FindingID(portal string, t logicmonitor.Token, r Rule) string {
	if portal == "" {
		portal = "default"
	}
	return fmt.Sprintf("lmtokens/%s/%d/%d/%s", portal, t.AdminID, t.ID, r.ID)
}

// Table is the README's table of the rules, in Markdown.
func Table() string {
	var b strings.Builder
	b.WriteString("| rule | severity | what fixes it (and the lmtokens call) | the finding's title |\n|---|---|---|---|\n")
	example := logicmonitor.Token{ID: 7, AdminID: 2}
	for _, r := range Rules {
		fmt.Fprintf(&b, "| `%s` | %s | %s (`%s`) | %s |\n", r.ID, r.Severity, r.Fix, r.Call("", example), r.Title)
	}
	return b.String()
}
