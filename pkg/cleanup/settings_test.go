package cleanup

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/settings"
)

// The policy's defaults are the ones the settings document.
func TestDefaultPolicyIsWhatSettingsSay(t *testing.T) {
	d, x := DefaultPolicy(StageDisable), DefaultPolicy(StageDelete)
	for _, c := range []struct{ setting, got string }{
		{settings.CleanupUnusedDays.Default, fmt.Sprintf("%d (disable), %d (delete)", d.UnusedDays, x.UnusedDays)},
		{settings.CleanupMaxActions.Default, strconv.Itoa(d.MaxActions)},
		{settings.CleanupWarnDays.Default, strconv.Itoa(d.WarnDays)},
		{settings.CleanupKeepMarker.Default, strings.Join(d.KeepMarkers, ",")},
		{settings.CleanupDryRun.Default, strconv.FormatBool(d.DryRun)},
	} {
		if c.setting != c.got {
			t.Errorf("settings say %q, DefaultPolicy %q", c.setting, c.got)
		}
	}
}
