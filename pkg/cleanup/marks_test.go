package cleanup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// memMarks keeps marks in memory, with the table's conditional writes.
type memMarks struct {
	mu      sync.Mutex
	m       map[markKey]Mark
	loadErr error
}

func (s *memMarks) Load(context.Context) ([]Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Mark
	for _, m := range s.m {
		out = append(out, m)
	}
	return out, s.loadErr
}

func (s *memMarks) Put(_ context.Context, m Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := markKey{m.AdminID, m.TokenID}
	if old, ok := s.m[k]; ok && old.LastUse.Equal(m.LastUse) {
		return nil
	}
	s.m[k] = m
	return nil
}

func (s *memMarks) Remove(ctx context.Context, m Mark) error {
	_, err := s.Take(ctx, m)
	return err
}

func (s *memMarks) Take(_ context.Context, m Mark) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := markKey{m.AdminID, m.TokenID}
	if old, ok := s.m[k]; ok && old.LastUse.Equal(m.LastUse) {
		delete(s.m, k)
		return true, nil
	}
	return false, nil
}

// world runs the disable stage daily over a portal, marking each warning as
// delivered, and records on which day each token was warned and acted on.
type world struct {
	t      *testing.T
	target *memTarget
	marks  *memMarks
	warned map[int64][]int
	acted  map[int64]int
}

func newWorld(t *testing.T, toks ...logicmonitor.Token) *world {
	return &world{t: t, target: &memTarget{tokens: toks}, marks: &memMarks{m: map[markKey]Mark{}}, warned: map[int64][]int{}, acted: map[int64]int{}}
}

func (w *world) run(day int) Report {
	at := now.Add(days(day))
	p := DefaultPolicy(StageDisable) // warnDays 14
	rep, err := Run{Stage: StageDisable, Policy: p, Self: Self{AccessID: "S"}, Now: at, Marks: w.marks}.Execute(context.Background(), w.target)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, x := range rep.Warnings {
		w.warned[x.TokenID] = append(w.warned[x.TokenID], day)
		if err := w.marks.Put(context.Background(), MarkFor(x, at)); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, a := range rep.Actions {
		if a.Done {
			w.acted[a.TokenID] = day
			w.target.update(a.TokenID, func(t *logicmonitor.Token) { t.Status = logicmonitor.StatusDisabled })
		}
	}
	return rep
}

func (m *memTarget) update(id int64, change func(*logicmonitor.Token)) {
	for i := range m.tokens {
		if m.tokens[i].ID == id {
			change(&m.tokens[i])
		}
	}
}

// Mark, then act: at a first deploy every eligible token is warned and none
// acted on; each is acted on warnDays after its warning; a token used since
// is unmarked and kept; a run that did not happen delays actions, never
// warnings.
func TestMarkThenAct(t *testing.T) {
	w := newWorld(t,
		logicmonitor.Token{ID: 1, AdminID: 2, AccessID: "A", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(400)}, // eligible long ago
		logicmonitor.Token{ID: 2, AdminID: 2, AccessID: "B", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(85)},  // eligible in 5 days
		logicmonitor.Token{ID: 3, AdminID: 2, AccessID: "C", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(60)},  // eligible in 30 days
		logicmonitor.Token{ID: 4, AdminID: 2, AccessID: "D", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(400)}, // used after its warning
		logicmonitor.Token{ID: 5, AdminID: 2, AccessID: "E", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(400), Note: "#keep"},
	)
	first := w.run(0)
	if len(first.Actions) != 0 || len(first.Warnings) != 3 || first.Skipped[SkipAwaitingWarning] != 2 {
		t.Fatalf("first run: %d actions, %d warnings, %v", len(first.Actions), len(first.Warnings), first.Skipped)
	}
	for day := 1; day <= 40; day++ {
		if day == 7 {
			w.target.update(4, func(t *logicmonitor.Token) { t.LastUsedOn = now.Add(days(7)).Unix() })
		}
		if day >= 16 && day <= 20 {
			continue // the schedule missed five runs
		}
		rep := w.run(day)
		if day == 7 && rep.Unmarked != 1 {
			t.Fatalf("day 7: the token used that day was not unmarked: %+v", rep)
		}
	}
	want := map[int64][]int{1: {0}, 2: {0}, 3: {21}, 4: {0}}
	if fmt.Sprint(w.warned) != fmt.Sprint(want) {
		t.Errorf("warned on days %v, want %v", w.warned, want)
	}
	// C entered its window on day 16, when no run ran: warned on the next
	// run (21), acted on 14 days after that.
	if fmt.Sprint(w.acted) != fmt.Sprint(map[int64]int{1: 14, 2: 14, 3: 35}) {
		t.Errorf("acted on days %v", w.acted)
	}
	if len(w.marks.m) != 0 {
		t.Errorf("marks left behind: %v", w.marks.m)
	}
}

// A warning that was never marked (not delivered) is sent again by the next
// run; an unreadable mark store fails the run before anything is acted on;
// warnDays needs a store; a dry run neither marks nor unmarks.
func TestMarksFailClosed(t *testing.T) {
	tok := logicmonitor.Token{ID: 1, AdminID: 2, AccessID: "A", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(400)}
	marks := &memMarks{m: map[markKey]Mark{}}
	run := Run{Stage: StageDisable, Policy: DefaultPolicy(StageDisable), Self: Self{AccessID: "S"}, Now: now, Marks: marks}
	for range 2 {
		rep, _ := run.Execute(context.Background(), &memTarget{tokens: []logicmonitor.Token{tok}})
		if len(rep.Warnings) != 1 {
			t.Fatalf("an unmarked token was not warned again: %+v", rep.Warnings)
		}
	}
	marks.loadErr = errors.New("AccessDeniedException")
	m := &memTarget{tokens: []logicmonitor.Token{tok}}
	if rep, err := run.Execute(context.Background(), m); err == nil || rep.Outcome != "failed" || len(m.acted) != 0 {
		t.Fatalf("unreadable marks: %v %+v", err, rep)
	}
	run.Marks = nil
	if _, err := run.Execute(context.Background(), m); !errors.Is(err, ErrNoMarks) {
		t.Fatalf("no store: %v", err)
	}
	// Dry: a matured mark shows as an action, nothing is written.
	marks = &memMarks{m: map[markKey]Mark{{2, 1}: {AdminID: 2, TokenID: 1, AccessID: "A", LastUse: LastUse(tok), WarnedAt: now.Add(-days(20))},
		{2, 9}: {AdminID: 2, TokenID: 9, AccessID: "Z", LastUse: now}}}
	run.Marks, run.Policy.DryRun = marks, true
	rep, _ := run.Execute(context.Background(), m)
	if len(rep.Actions) != 1 || rep.Actions[0].Done || len(marks.m) != 2 || len(m.acted) != 0 {
		t.Fatalf("dry run: %+v, marks %v", rep.Actions, marks.m)
	}
	// An event may lengthen the warning, never shorten it.
	if _, err := DefaultPolicy(StageDisable).Override([]byte(`{"warnDays":3}`), false); err == nil {
		t.Fatal("an event shortened warnDays")
	}
	if p, err := DefaultPolicy(StageDisable).Override([]byte(`{"warnDays":30}`), false); err != nil || p.WarnDays != 30 {
		t.Fatalf("%v %+v", err, p)
	}
}
