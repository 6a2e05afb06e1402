package handlers_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/clip"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdev"
	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
	"github.com/lmtokens/lmtokens/pkg/local/longtest"
	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// passDays makes d days pass for the portal and the marks table alike:
// every time they hold moves d days into the past (the functions read the
// real clock).
func (e *env) passDays(d float64) {
	shift := time.Duration(d * float64(24*time.Hour))
	e.portal.PassTime(shift)
	localdev.AgeMarks(e.db, marksTable, shift)
}

func (e *env) warningsSent(t *testing.T) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenWillBeDisabled || ev.DetailType == lifecycle.TokenWillBeDeleted {
			out[int64(detailOf(t, ev.Detail)["tokenId"].(float64))] = true
		}
	}
	return out
}

func status(e *env, id int64) int {
	tok, _ := e.portal.Token(id)
	return tok.Status
}

const warn14 = "CLEANUP_WARN_DAYS=14"

// Mark, then act, through the toggle binary with warnings on: the first
// run (a first deploy) warns every eligible token and acts on none; the run
// after warnDays acts on them; a token used after its warning is unmarked
// and kept; a token that entered its window while runs were missed is
// warned by the next run, and acted on warnDays after that.
func TestWarnedBeforeActedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "stale", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	soon := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "soon", CreatedDaysAgo: 700, LastUsedDaysAgo: 85}) // eligible in 5 days
	used := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "used again", CreatedDaysAgo: 700, LastUsedDaysAgo: 300})
	later := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "later", CreatedDaysAgo: 700, LastUsedDaysAgo: 60}) // eligible in 30 days
	fn := e.cleanupFn(t, "toggle", warn14)

	first := runReport(t, fn, scheduledEvent)
	sent := e.warningsSent(t)
	if first.Succeeded != 0 || len(sent) != 3 || !sent[stale.ID] || !sent[soon.ID] || !sent[used.ID] || first.Marked != 3 || first.Outcome != "ok" {
		t.Fatalf("first deploy: acted %d, warned %v, marked %d, %s", first.Succeeded, sent, first.Marked, first.Outcome)
	}
	if len(e.db.Items(marksTable)) != 3 {
		t.Fatalf("%d marks", len(e.db.Items(marksTable)))
	}
	// Daily runs for 13 days: no action, no second warning.
	for day := 1; day <= 13; day++ {
		e.eb.Reset()
		e.passDays(1)
		if day == 3 {
			e.portal.Update(used.ID, func(t *lmsandbox.Token) { t.LastUsedOn = time.Now().Unix() })
		}
		rep := runReport(t, fn, scheduledEvent)
		if rep.Succeeded != 0 || len(e.warningsSent(t)) != 0 {
			t.Fatalf("day %d: acted on %d, warned %v", day, rep.Succeeded, e.warningsSent(t))
		}
		if day == 3 && rep.Unmarked != 1 {
			t.Fatalf("day 3: the token used again was not unmarked: %+v", rep)
		}
	}
	e.eb.Reset()
	e.passDays(1.01) // day 14, a little after the warning's time
	rep := runReport(t, fn, scheduledEvent)
	if rep.Succeeded != 2 || status(e, stale.ID) != 1 || status(e, soon.ID) != 1 || status(e, used.ID) != 2 || status(e, later.ID) != 2 {
		t.Fatalf("day 14: succeeded %d; statuses %d %d %d %d", rep.Succeeded, status(e, stale.ID), status(e, soon.ID), status(e, used.ID), status(e, later.ID))
	}
	// "later" is 74 days unused: eligible in 16 days. Runs stop for five
	// days, during which it enters its window; the next run warns it.
	e.eb.Reset()
	e.passDays(5)
	rep = runReport(t, fn, scheduledEvent)
	if sent := e.warningsSent(t); len(sent) != 1 || !sent[later.ID] || rep.Succeeded != 0 {
		t.Fatalf("after missed runs: warned %v, acted %d", sent, rep.Succeeded)
	}
	var mark localdynamo.Item
	for _, it := range e.db.Items(marksTable) {
		if strings.HasSuffix(it[marktable.AttrSK]["S"], fmt.Sprintf("#%d", later.ID)) {
			mark = it
		}
	}
	actOn, _ := strconv.ParseInt(mark[marktable.AttrActOn]["N"], 10, 64)
	if d := time.Until(time.Unix(actOn, 0)); d < 14*24*time.Hour-time.Minute || d > 14*24*time.Hour+time.Minute {
		t.Fatalf("its action date is %v away, want warnDays from the warning", d)
	}
	e.passDays(13)
	if rep := runReport(t, fn, scheduledEvent); rep.Succeeded != 0 {
		t.Fatal("acted before warnDays had passed since the warning")
	}
	e.passDays(1.01)
	if rep := runReport(t, fn, scheduledEvent); rep.Succeeded != 1 || status(e, later.ID) != 1 {
		t.Fatalf("not acted on warnDays after its warning: %+v", rep)
	}
	// Every mark of a token acted on or used is gone.
	if items := e.db.Items(marksTable); len(items) != 0 {
		e.passDays(1)
		runReport(t, fn, scheduledEvent)
		if items := e.db.Items(marksTable); len(items) != 0 {
			t.Fatalf("marks left: %v", items)
		}
	}
}

// A warning EventBridge did not take leaves its token unmarked, the run
// partial with a count, and the next run warns it again.
func TestUndeliveredWarningIsSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "stale", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	fn := e.startBinaryTimeout(t, "toggle", 6*time.Second, "CLEANUP_ENABLED=true", warn14)
	e.eb.FailEntries(1000)
	rep := runReport(t, fn, scheduledEvent)
	if rep.Outcome != "partial" || rep.WarningsUndelivered != 1 || rep.Marked != 0 || len(e.db.Items(marksTable)) != 0 || rep.EventsUndelivered != 1 {
		t.Fatalf("undelivered: outcome %s, undelivered %d, marked %d, events undelivered %d", rep.Outcome, rep.WarningsUndelivered, rep.Marked, rep.EventsUndelivered)
	}
	e.eb.Heal()
	e.passDays(20)
	rep = runReport(t, fn, scheduledEvent)
	if sent := e.warningsSent(t); !sent[stale.ID] || rep.Marked != 1 || rep.Succeeded != 0 || rep.Outcome != "ok" {
		t.Fatalf("the next run: warned %v, marked %d, acted %d", sent, rep.Marked, rep.Succeeded)
	}
}

// 2,000 warnings against a bus that takes 25 ms a call are all delivered
// and marked, and the run's summary too.
func TestThousandsOfWarningsDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for i := range 2000 {
		e.seed(lmsandbox.TokenSpec{AdminID: int64(2 + i%2), Note: fmt.Sprintf("batch %d", i), CreatedDaysAgo: 700, LastUsedDaysAgo: 80 + float64(i%10)})
	}
	e.eb.SetLatency(25 * time.Millisecond)
	fn := e.startBinaryTimeout(t, "toggle", 60*time.Second, "CLEANUP_ENABLED=true", warn14)
	rep := runReportWithin(t, fn, scheduledEvent, 60*time.Second) // room for a loaded machine
	evs := e.events(t)
	warned, summaries := 0, 0
	for _, ev := range evs {
		switch ev.DetailType {
		case lifecycle.TokenWillBeDisabled:
			warned++
		case lifecycle.CleanupRunCompleted:
			summaries++
		}
	}
	if warned != 2000 || summaries != 1 || rep.Marked != 2000 || len(e.db.Items(marksTable)) != 2000 || rep.Outcome != "ok" {
		t.Fatalf("warned %d, summaries %d, marked %d, outcome %s", warned, summaries, rep.Marked, rep.Outcome)
	}
}

// The largest summary — over a thousand actions with long notes that JSON
// must escape, hundreds of errors — is delivered within EventBridge's
// limit, its lists cut with truncated set, its counts whole.
func TestLargestSummaryFits(t *testing.T) {
	longtest.Mark(t)
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	note := strings.Repeat(`"quoted" \ and	tabbed `, 150) // ~3 KB, more once escaped
	const n = 2000
	for i := range n {
		e.seed(lmsandbox.TokenSpec{AdminID: int64(2 + i%2), Note: fmt.Sprintf("largest-summary %d %s", i, note), CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	}
	e.portal.Inject(lmsandbox.Fault{Method: "PATCH", Status: 400, Count: 300})
	fn := e.startBinaryTimeout(t, "toggle", 120*time.Second, "CLEANUP_ENABLED=true", "CLEANUP_MAX_ACTIONS=10000")
	// The whole function timeout: a loaded CI machine (the race detector,
	// eight tests at once) needs more than the suite's usual 20 s for 2,000
	// actions, and a run cut short answers with none done.
	rep := runReportWithin(t, fn, scheduledEvent, 120*time.Second)
	// A loaded machine may leave some for the next run (stoppedEarly): the
	// summary is the figure here, not how far the run got.
	if rep.Eligible != n || len(rep.Actions) != n || rep.Failed < 1 || rep.Succeeded < 1 {
		t.Fatalf("succeeded %d, failed %d, eligible %d, remaining %d (capped %v, stopped early %v), outcome %s, %d errors", rep.Succeeded, rep.Failed, rep.Eligible, rep.Remaining, rep.CapReached, rep.StoppedEarly, rep.Outcome, len(rep.Errors))
	}
	_, largest := e.eb.Calls()
	var sum tokens.CleanupSummary
	evs := e.events(t)
	if last := evs[len(evs)-1]; last.DetailType != lifecycle.CleanupRunCompleted {
		t.Fatalf("the summary is not the run's last event: %s", last.DetailType)
	}
	for _, ev := range evs {
		if ev.DetailType == lifecycle.CleanupRunCompleted {
			if len(ev.Detail) > tokens.MaxSummaryBytes {
				t.Fatalf("summary of %d bytes", len(ev.Detail))
			}
			if err := json.Unmarshal(ev.Detail, &sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !sum.Truncated || sum.Succeeded != rep.Succeeded || sum.Failed != rep.Failed || sum.ActionsOmitted+len(sum.Actions) != n ||
		sum.ErrorsOmitted+len(sum.Errors) != len(rep.Errors) || largest > lifecycle.MaxCallBytes {
		t.Fatalf("summary: truncated %v, %d+%d actions, %d+%d errors; largest call %d", sum.Truncated, len(sum.Actions), sum.ActionsOmitted, len(sum.Errors), sum.ErrorsOmitted, largest)
	}
	if !strings.HasSuffix(sum.Actions[0].Note, clip.Marker) {
		t.Fatal("a long note was not clipped")
	}
	// The log holds the whole run: every action on a line of its own, its
	// note in full.
	lines := 0
	for _, l := range strings.Split(allLogs.String(), "\n") {
		if strings.Contains(l, `"msg":"cleanup item"`) && strings.Contains(l, `largest-summary `) && !strings.Contains(l, clip.Marker) {
			lines++
		}
	}
	if lines != n {
		t.Fatalf("%d of %d actions in the log in full", lines, n)
	}
}

// Two instances of the disable stage run at once, twice: each token is
// marked once (the first delivered warning's mark counts), and after
// warnDays each is disabled once, with nothing failed.
func TestConcurrentRunsMarkOnceAndActOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	var stale []int64
	for i := range 20 {
		stale = append(stale, e.seed(lmsandbox.TokenSpec{AdminID: int64(2 + i%2), Note: "stale", CreatedDaysAgo: 700, LastUsedDaysAgo: 300}).ID)
	}
	a, b := e.cleanupFn(t, "toggle", warn14), e.cleanupFn(t, "toggle", warn14)
	both := func() [2]cleanup.Report {
		var reps [2]cleanup.Report
		var wg sync.WaitGroup
		for i, fn := range []*lambdaruntime.Function{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i] = runReport(t, fn, scheduledEvent)
			}()
		}
		wg.Wait()
		return reps
	}
	first := both()
	items := e.db.Items(marksTable)
	if len(items) != len(stale) || first[0].Succeeded+first[1].Succeeded != 0 || first[0].Outcome != "ok" || first[1].Outcome != "ok" {
		t.Fatalf("%d marks for %d tokens; acted %d+%d", len(items), len(stale), first[0].Succeeded, first[1].Succeeded)
	}
	e.passDays(14.01)
	second := both()
	if second[0].Succeeded+second[1].Succeeded != len(stale) || second[0].Failed+second[1].Failed != 0 {
		t.Fatalf("acted %d+%d on %d tokens, failed %d+%d", second[0].Succeeded, second[1].Succeeded, len(stale), second[0].Failed, second[1].Failed)
	}
	for _, id := range stale {
		if status(e, id) != 1 {
			t.Fatalf("token %d still enabled", id)
		}
	}
}

// The marks under a hostile world, through the toggle binary: DynamoDB
// answers lost after it wrote; a token used between the listing and the
// action; an action that fails after its mark was taken; a table that
// cannot be read. Each ends with no token acted on unwarned, none acted on
// twice, and a report that says what happened.
func TestMarksUnderLostAnswersAndChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	a := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "a", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	c := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "c", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	fn := e.cleanupFn(t, "toggle", warn14)

	// Every PutItem's answer is lost after the write: the retry finds the
	// mark there, and each token is marked once.
	e.db.LoseAnswers("PutItem", 2)
	rep := runReport(t, fn, scheduledEvent)
	if rep.Marked != 2 || rep.Outcome != "ok" || len(e.db.Items(marksTable)) != 2 || e.db.Calls("PutItem") != 4 {
		t.Fatalf("lost PutItem answers: marked %d, %d items, %d calls, %s %v", rep.Marked, len(e.db.Items(marksTable)), e.db.Calls("PutItem"), rep.Outcome, rep.Errors)
	}

	// warnDays later: a is used between the listing and its action; c's
	// disable fails after its mark was taken.
	e.passDays(14.01)
	afterListing(e.portal, func(p *lmsandbox.Portal) {
		p.Update(a.ID, func(t *lmsandbox.Token) { t.LastUsedOn = time.Now().Unix() })
	})
	e.portal.Inject(lmsandbox.Fault{Method: "PATCH", Path: fmt.Sprintf("/apitokens/%d", c.ID), Status: 400})
	e.eb.Reset()
	rep = runReport(t, fn, scheduledEvent)
	if status(e, a.ID) != 2 || status(e, c.ID) != 2 || rep.Succeeded != 0 || rep.Outcome != "failed" {
		t.Fatalf("a used token or a failed action changed: a %d, c %d, %+v", status(e, a.ID), status(e, c.ID), rep)
	}
	for _, act := range rep.Actions {
		if act.TokenID == a.ID && !strings.HasPrefix(act.Skipped, "changed") || act.TokenID == c.ID && act.Error == "" {
			t.Fatalf("not reported as it happened: %+v", act)
		}
	}
	// The next run warns c again (its mark went with the failed action);
	// a, used, is fresh and unmarked.
	e.eb.Reset()
	rep = runReport(t, fn, scheduledEvent)
	if sent := e.warningsSent(t); !sent[c.ID] || sent[a.ID] || rep.Succeeded != 0 || len(e.db.Items(marksTable)) != 1 {
		t.Fatalf("after the failed action: warned %v, acted %d, %d marks", sent, rep.Succeeded, len(e.db.Items(marksTable)))
	}

	// Marks that cannot be read: the run fails and acts on nothing.
	e.passDays(20)
	e.db.Fail("Query", 100)
	res := invokeBinary(t, fn, scheduledEvent)
	if !res.Failed() || !strings.Contains(res.ErrorMessage, "warning marks") || status(e, c.ID) != 2 {
		t.Fatalf("unreadable marks: %+v, c %d", res, status(e, c.ID))
	}
}

// A mark taken but whose answer was lost is never taken twice: the run
// leaves the token and says why, the next run warns it again, and it is
// acted on warnDays after that warning, once.
func TestLostTakeOfAMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "stale", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	fn := e.cleanupFn(t, "toggle", warn14)
	runReport(t, fn, scheduledEvent)
	e.passDays(14.01)
	e.db.LoseAnswers("DeleteItem", 1)
	rep := runReport(t, fn, scheduledEvent)
	if status(e, tok.ID) != 2 || len(rep.Actions) != 1 || !strings.Contains(rep.Actions[0].Skipped, "an answer was lost") {
		t.Fatalf("a lost take: status %d, %+v", status(e, tok.ID), rep.Actions)
	}
	e.eb.Reset()
	if runReport(t, fn, scheduledEvent); !e.warningsSent(t)[tok.ID] {
		t.Fatal("the token was not warned again")
	}
	e.passDays(14.01)
	e.eb.Reset()
	if rep := runReport(t, fn, scheduledEvent); rep.Succeeded != 1 || status(e, tok.ID) != 1 {
		t.Fatalf("not acted on after its new warning: %+v", rep)
	}
}

// Warnings need somewhere to keep their marks and somewhere to send them:
// without either, a cleanup with warnDays above 0 is a Configuration error
// that names what is missing; with warnDays 0 it needs neither.
func TestWarningsNeedATableAndABus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "stale", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	noTable := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", warn14, "CLEANUP_MARKS_TABLE=")
	fnError(t, errOf(invokeBinary(t, noTable, scheduledEvent)), handlers.TypeConfiguration, "CLEANUP_MARKS_TABLE")
	noBus := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", warn14, "EVENT_BUS_NAME=")
	fnError(t, errOf(invokeBinary(t, noBus, scheduledEvent)), handlers.TypeConfiguration, "EVENT_BUS_NAME")
	if status(e, stale.ID) != 2 {
		t.Fatal("a refused run acted")
	}
	bare := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", "CLEANUP_WARN_DAYS=0", "CLEANUP_MARKS_TABLE=", "EVENT_BUS_NAME=")
	if rep := runReport(t, bare, scheduledEvent); rep.Succeeded != 1 || status(e, stale.ID) != 1 {
		t.Fatalf("warnDays 0 without a table: %+v", rep)
	}
}

// errOf is a binary's function error, as a direct invocation returns it.
func errOf(res lambdaruntime.Result) error {
	if !res.Failed() {
		return nil
	}
	return messages.InvokeResponse_Error{Type: res.ErrorType, Message: res.ErrorMessage}
}
