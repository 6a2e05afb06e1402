// Package cleanup decides which stale LogicMonitor tokens to disable or
// delete, and runs those actions with a bound, a cap and a report.
//
// Cleanup has two stages: the disable stage disables enabled tokens unused
// for UnusedDays; the delete stage deletes disabled tokens unused for its
// own, larger UnusedDays. "Last use" is lastUsedOn, or createdOn for a token
// never used. Each token is judged here from its full record, whatever
// filter the listing used, because the portal ignores filters it does not
// understand.
package cleanup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/envlist"
	"github.com/lmtokens/lmtokens/pkg/settings"
	"github.com/lmtokens/lmtokens/pkg/strictjson"
)

// Stage is a cleanup stage.
type Stage string

const (
	StageDisable Stage = "disable"
	StageDelete  Stage = "delete"
)

// Policy says what a run may touch.
type Policy struct {
	UnusedDays int  `json:"unusedDays"`
	DryRun     bool `json:"dryRun"`
	MaxActions int  `json:"maxActions"`
	// KeepMarkers: a token whose note contains any of them (case-insensitive)
	// is never touched.
	KeepMarkers        []string `json:"keepMarkers"`
	ProtectedAccessIDs []string `json:"protectedAccessIds"`
	// WarnDays: a token that will become eligible within this many days is
	// warned about, and acted on no sooner than this many days after the
	// warning was delivered (0: no warnings, act when eligible).
	WarnDays int `json:"warnDays"`
}

// Limits of policy values.
const (
	MaxUnusedDays = 3650
	MaxMaxActions = 10000
)

// ValidationError is an invalid policy value.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &ValidationError{fmt.Sprintf(format, args...)}
}

// DefaultPolicy is a stage's policy before the environment and the event.
func DefaultPolicy(s Stage) Policy {
	p := Policy{UnusedDays: 90, MaxActions: 50, KeepMarkers: []string{"#keep"}, ProtectedAccessIDs: []string{}, WarnDays: 14}
	if s == StageDelete {
		p.UnusedDays = 180
	}
	return p
}

// PolicyFromEnv applies CLEANUP_UNUSED_DAYS, CLEANUP_DRY_RUN,
// CLEANUP_MAX_ACTIONS, CLEANUP_KEEP_MARKER and CLEANUP_PROTECTED_ACCESS_IDS
// (both comma-separated) over the stage's defaults.
func PolicyFromEnv(s Stage, getenv func(string) string) (Policy, error) {
	p := DefaultPolicy(s)
	var err error
	if v := getenv(settings.CleanupUnusedDays.Env); v != "" {
		if p.UnusedDays, err = strconv.Atoi(v); err != nil {
			return p, invalid("%s %q is not a whole number", settings.CleanupUnusedDays.Env, v)
		}
	}
	if v := getenv(settings.CleanupDryRun.Env); v != "" {
		if p.DryRun, err = strconv.ParseBool(v); err != nil {
			return p, invalid("%s %q is not true or false", settings.CleanupDryRun.Env, v)
		}
	}
	if v := getenv(settings.CleanupMaxActions.Env); v != "" {
		if p.MaxActions, err = strconv.Atoi(v); err != nil {
			return p, invalid("%s %q is not a whole number", settings.CleanupMaxActions.Env, v)
		}
	}
	if v := getenv(settings.CleanupWarnDays.Env); v != "" {
		if p.WarnDays, err = strconv.Atoi(v); err != nil {
			return p, invalid("%s %q is not a whole number", settings.CleanupWarnDays.Env, v)
		}
	}
	if v := getenv(settings.CleanupKeepMarker.Env); v != "" {
		p.KeepMarkers = envlist.Split(v)
	}
	if v := getenv(settings.CleanupProtectedAccessIDs.Env); v != "" {
		p.ProtectedAccessIDs = envlist.Split(v)
	}
	if err := p.Validate(); err != nil {
		// Name the variable that set the field at fault.
		field, _, _ := strings.Cut(err.Error(), " ")
		if name, ok := fieldVars[field]; ok {
			return p, invalid("%s: %v", name, err)
		}
		return p, err
	}
	return p, nil
}

// fieldVars are the variables that set a policy's fields.
var fieldVars = map[string]string{"unusedDays": settings.CleanupUnusedDays.Env, "maxActions": settings.CleanupMaxActions.Env, "warnDays": settings.CleanupWarnDays.Env,
	"keepMarkers": settings.CleanupKeepMarker.Env, "protectedAccessIds": settings.CleanupProtectedAccessIDs.Env}

// Override applies the fields of a {"cleanup": {...}} object over p, the
// configured policy. An event may only narrow what the configuration
// allows: unusedDays only up, maxActions only down, dryRun only on, keep
// markers and protected ids only added. allowWidening (a deployment
// setting, off by default) lifts that rule for the first three. Field names
// match exactly and unknown fields are refused, so a typo or a case variant
// can never silently run the configured policy.
func (p Policy) Override(raw json.RawMessage, allowWidening bool) (Policy, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return p, p.Validate()
	}
	if trimmed[0] != '{' {
		return p, invalid("cleanup must be a JSON object")
	}
	var o struct {
		UnusedDays         *int      `json:"unusedDays"`
		DryRun             *bool     `json:"dryRun"`
		MaxActions         *int      `json:"maxActions"`
		KeepMarkers        *[]string `json:"keepMarkers"`
		ProtectedAccessIDs *[]string `json:"protectedAccessIds"`
		WarnDays           *int      `json:"warnDays"`
	}
	if err := strictjson.Decode(trimmed, &o); err != nil {
		var ute *json.UnmarshalTypeError
		var se *strictjson.Error
		switch {
		case errors.As(err, &ute):
			return p, invalid("cleanup.%s has the wrong type", ute.Field)
		case errors.As(err, &se):
			return p, invalid("cleanup: %s (known: unusedDays, dryRun, maxActions, keepMarkers, protectedAccessIds, warnDays)", se.Msg)
		}
		return p, invalid("cleanup is not valid JSON")
	}
	widen := func(what string, args ...any) error {
		return invalid("cleanup."+what+": an event may only narrow the configured policy (the deployment's allowPolicyWidening setting permits more)", args...)
	}
	if o.UnusedDays != nil {
		if *o.UnusedDays < p.UnusedDays && !allowWidening {
			return p, widen("unusedDays %d is below the configured %d", *o.UnusedDays, p.UnusedDays)
		}
		p.UnusedDays = *o.UnusedDays
	}
	if o.DryRun != nil {
		if p.DryRun && !*o.DryRun && !allowWidening {
			return p, widen("dryRun false would act although the configuration says dry run")
		}
		p.DryRun = *o.DryRun
	}
	if o.MaxActions != nil {
		if *o.MaxActions > p.MaxActions && !allowWidening {
			return p, widen("maxActions %d is above the configured %d", *o.MaxActions, p.MaxActions)
		}
		p.MaxActions = *o.MaxActions
	}
	// A longer warning only delays actions; a shorter one would act
	// sooner than owners were told.
	if o.WarnDays != nil {
		if *o.WarnDays < p.WarnDays && !allowWidening {
			return p, widen("warnDays %d is below the configured %d", *o.WarnDays, p.WarnDays)
		}
		p.WarnDays = *o.WarnDays
	}
	// Markers and protected ids only grow: the configured ones stay.
	if o.KeepMarkers != nil {
		p.KeepMarkers = append(append([]string{}, p.KeepMarkers...), *o.KeepMarkers...)
	}
	if o.ProtectedAccessIDs != nil {
		p.ProtectedAccessIDs = append(append([]string{}, p.ProtectedAccessIDs...), *o.ProtectedAccessIDs...)
	}
	return p, p.Validate()
}

// Validate checks the policy's values.
func (p Policy) Validate() error {
	switch {
	case p.UnusedDays < 1 || p.UnusedDays > MaxUnusedDays:
		return invalid("unusedDays must be from 1 to %d, not %d", MaxUnusedDays, p.UnusedDays)
	case p.MaxActions < 1 || p.MaxActions > MaxMaxActions:
		return invalid("maxActions must be from 1 to %d, not %d", MaxMaxActions, p.MaxActions)
	case len(p.KeepMarkers) == 0:
		return invalid("keepMarkers must name at least one marker")
	case p.WarnDays < 0 || p.WarnDays > 365:
		return invalid("warnDays must be from 0 (no warnings) to 365, not %d", p.WarnDays)
	}
	for _, m := range p.KeepMarkers {
		switch {
		case strings.TrimSpace(m) == "":
			return invalid("keepMarkers holds an empty marker")
		case len(m) > 100:
			return invalid("a keep marker is over 100 characters")
		}
	}
	for _, id := range p.ProtectedAccessIDs {
		if strings.TrimSpace(id) == "" {
			return invalid("protectedAccessIds holds an empty id")
		}
	}
	return nil
}
