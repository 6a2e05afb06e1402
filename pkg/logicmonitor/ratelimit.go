package logicmonitor

import (
	"time"
)

// Rate is the rate-limit state LogicMonitor reported on its latest response.
// Limits are per endpoint and method and shared by the whole account.
type Rate struct {
	Limit     int           // requests allowed per window
	Remaining int           // requests left in the current window
	Window    time.Duration // the rolling window
	Observed  time.Time     // when the response carrying it arrived
}

// Known reports whether a response has carried rate-limit headers yet.
func (r Rate) Known() bool { return r.Limit > 0 && r.Window > 0 }
