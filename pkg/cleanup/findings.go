package cleanup

// Findings is what a disable run did with the posture findings (see
// pkg/posture): how many its tokens break now, and what it imported into
// Security Hub to say so.
type Findings struct {
	// Active counts the findings the run found, raised or not.
	Active int `json:"active"`
	// Raised are new findings imported; Refreshed lasting ones imported
	// again (monthly); Archived those whose cause is gone. A dry run
	// counts what it would import and imports nothing.
	Raised    int `json:"raised"`
	Refreshed int `json:"refreshed"`
	Archived  int `json:"archived"`
	// Refused counts the findings Security Hub refused; Unreported those
	// the run could not import or record as imported, refused ones
	// included (the next run sends them again; any makes the outcome
	// partial). Calls are the BatchImportFindings calls made.
	Refused    int `json:"refused"`
	Unreported int `json:"unreported"`
	Calls      int `json:"securityHubCalls"`
}

// Add totals two portals' findings (nil: none configured).
func (f *Findings) Add(g *Findings) *Findings {
	if f == nil && g == nil {
		return nil
	}
	var a, b Findings
	if f != nil {
		a = *f
	}
	if g != nil {
		b = *g
	}
	return &Findings{Active: a.Active + b.Active, Raised: a.Raised + b.Raised, Refreshed: a.Refreshed + b.Refreshed,
		Archived: a.Archived + b.Archived, Refused: a.Refused + b.Refused, Unreported: a.Unreported + b.Unreported, Calls: a.Calls + b.Calls}
}
