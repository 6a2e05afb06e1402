package cleanup

import (
	"encoding/json"

	"github.com/lmtokens/lmtokens/pkg/clip"
)

// TextBytes bounds each free text of a bounded report's items.
const TextBytes = clip.MaxText

// Clipped returns the action with each free text at most TextBytes.
func (a Action) Clipped() Action {
	a.Note, a.Portal, a.Secret = clip.Text(a.Note, TextBytes), clip.Text(a.Portal, clip.MaxName), clip.Text(a.Secret, TextBytes)
	a.Detail, a.Error, a.Skipped = clip.Text(a.Detail, TextBytes), clip.Text(a.Error, TextBytes), clip.Text(a.Skipped, TextBytes)
	return a
}

// Clipped returns the orphan with each free text at most TextBytes.
func (o Orphan) Clipped() Orphan {
	o.Portal, o.Secret = clip.Text(o.Portal, clip.MaxName), clip.Text(o.Secret, TextBytes)
	o.Detail, o.Error = clip.Text(o.Detail, TextBytes), clip.Text(o.Error, TextBytes)
	return o
}

// Clipped returns the warning with each free text at most TextBytes.
func (w Warning) Clipped() Warning {
	w.Note, w.Portal, w.AdminName = clip.Text(w.Note, TextBytes), clip.Text(w.Portal, clip.MaxName), clip.Text(w.AdminName, TextBytes)
	return w
}

func clipError(e string) string { return clip.Text(e, TextBytes) }

// Bounded returns the report within maxBytes as JSON: every count whole,
// each list cut to its first items, halving until it fits (the portals'
// copies of the items left out first), every text clipped; Truncated and
// Omitted say what was left out. A
// function's answer and its report's log line are bounded (Lambda answers
// at most 6 MB, CloudWatch Logs takes at most 256 KB an event); each item
// is also logged on a line of its own.
func (rep Report) Bounded(maxBytes int) Report {
	// Start from the longest list: larger bounds cut nothing and would
	// only encode the same report again.
	n := rep.longestList()
	if len(rep.Portals) == 0 {
		return clip.Within(maxBytes, n, func(k int) Report { return rep.cut(k, k) })
	}
	// A report over several portals holds each item twice: in the total's
	// lists (naming its portal) and in its portal's. The report without the
	// portals' copies (their counts stay, the copies counted in Omitted) is
	// encoded first: the whole report is at most twice its size, so whole
	// when that fits; else without the copies when that fits; else the
	// total's lists are cut too. A large report is encoded once or twice,
	// not at every halving.
	lean := rep.cut(n, 0)
	raw, _ := json.Marshal(lean)
	switch {
	case 2*len(raw) <= maxBytes:
		return rep.cut(n, n)
	case len(raw) <= maxBytes:
		return lean
	}
	return clip.Within(maxBytes, clip.Halve(n, len(raw), maxBytes), func(k int) Report { return rep.cut(k, 0) })
}

// cut keeps the first n items of each list, and perPortal of each
// portal's.
func (rep Report) cut(n, perPortal int) Report {
	omitted := map[string]int{}
	var o int
	rep.Actions, o = clip.First(rep.Actions, n, Action.Clipped)
	omitted["actions"] += o
	if rep.Retired != nil {
		rep.Retired, o = clip.First(rep.Retired, n, Action.Clipped)
		omitted["retired"] += o
	}
	if rep.OrphanedSecrets != nil {
		rep.OrphanedSecrets, o = clip.First(rep.OrphanedSecrets, n, Orphan.Clipped)
		omitted["orphanedSecrets"] += o
	}
	rep.Warnings, o = clip.First(rep.Warnings, n, Warning.Clipped)
	omitted["warnings"] += o
	rep.Errors, o = clip.First(rep.Errors, n, clipError)
	omitted["errors"] += o
	if rep.Portals != nil {
		portals := make([]Report, len(rep.Portals))
		for i, p := range rep.Portals {
			portals[i] = p.cut(perPortal, perPortal)
			for k, v := range portals[i].Omitted {
				omitted["portals."+k] += v
			}
			portals[i].Omitted, portals[i].Truncated = nil, false
		}
		rep.Portals = portals
	}
	for k, v := range omitted {
		if v == 0 {
			delete(omitted, k)
		}
	}
	rep.Truncated = len(omitted) > 0
	rep.Omitted = nil
	if rep.Truncated {
		rep.Omitted = omitted
	}
	return rep
}

// longestList is the length of the report's longest list, its portals'
// included.
func (rep Report) longestList() int {
	n := max(len(rep.Actions), len(rep.Retired), len(rep.OrphanedSecrets), len(rep.Warnings), len(rep.Errors))
	for _, p := range rep.Portals {
		n = max(n, p.longestList())
	}
	return n
}
