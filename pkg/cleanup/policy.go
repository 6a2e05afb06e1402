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
	"io"
	"strconv"
	"strings"
)

// Stage is a cleanup stage.
type Stage string

const (
	StageDisable Stage = "disable"
	StageDelete  Stage = "delete"
)

// Policy says what a run may touch.
type Policy struct {
	UnusedDays         int      `json:"unusedDays"`
	DryRun             bool     `json:"dryRun"`
	MaxActions         int      `json:"maxActions"`
	KeepMarker         string   `json:"keepMarker"`
	ProtectedAccessIDs []string `json:"protectedAccessIds"`
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
	p := Policy{UnusedDays: 90, MaxActions: 50, KeepMarker: "#keep", ProtectedAccessIDs: []string{}}
	if s == StageDelete {
		p.UnusedDays = 180
	}
	return p
}

// PolicyFromEnv applies CLEANUP_UNUSED_DAYS, CLEANUP_DRY_RUN,
// CLEANUP_MAX_ACTIONS, CLEANUP_KEEP_MARKER and CLEANUP_PROTECTED_ACCESS_IDS
// (comma-separated) over the stage's defaults.
func PolicyFromEnv(s Stage, getenv func(string) string) (Policy, error) {
	p := DefaultPolicy(s)
	var err error
	if v := getenv("CLEANUP_UNUSED_DAYS"); v != "" {
		if p.UnusedDays, err = strconv.Atoi(v); err != nil {
			return p, invalid("CLEANUP_UNUSED_DAYS %q is not a whole number", v)
		}
	}
	if v := getenv("CLEANUP_DRY_RUN"); v != "" {
		if p.DryRun, err = strconv.ParseBool(v); err != nil {
			return p, invalid("CLEANUP_DRY_RUN %q is not true or false", v)
		}
	}
	if v := getenv("CLEANUP_MAX_ACTIONS"); v != "" {
		if p.MaxActions, err = strconv.Atoi(v); err != nil {
			return p, invalid("CLEANUP_MAX_ACTIONS %q is not a whole number", v)
		}
	}
	if v, ok := lookup(getenv, "CLEANUP_KEEP_MARKER"); ok {
		p.KeepMarker = v
	}
	if v := getenv("CLEANUP_PROTECTED_ACCESS_IDS"); v != "" {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				p.ProtectedAccessIDs = append(p.ProtectedAccessIDs, id)
			}
		}
	}
	return p, p.Validate()
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

// Override applies the fields of a {"cleanup": {...}} object over p. Unknown
// fields are refused, so a typo cannot silently run the default policy.
func (p Policy) Override(raw json.RawMessage) (Policy, error) {
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
		KeepMarker         *string   `json:"keepMarker"`
		ProtectedAccessIDs *[]string `json:"protectedAccessIds"`
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return p, invalid("cleanup.%s has the wrong type", ute.Field)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return p, invalid("cleanup has an unknown field %s (known: unusedDays, dryRun, maxActions, keepMarker, protectedAccessIds)", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return p, invalid("cleanup is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, invalid("cleanup has data after its object")
	}
	if o.UnusedDays != nil {
		p.UnusedDays = *o.UnusedDays
	}
	if o.DryRun != nil {
		p.DryRun = *o.DryRun
	}
	if o.MaxActions != nil {
		p.MaxActions = *o.MaxActions
	}
	if o.KeepMarker != nil {
		p.KeepMarker = *o.KeepMarker
	}
	if o.ProtectedAccessIDs != nil {
		// Protection only grows: the configured ids stay protected.
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
	case strings.TrimSpace(p.KeepMarker) == "":
		return invalid("keepMarker must not be empty")
	case len(p.KeepMarker) > 100:
		return invalid("keepMarker is over 100 characters")
	}
	for _, id := range p.ProtectedAccessIDs {
		if strings.TrimSpace(id) == "" {
			return invalid("protectedAccessIds holds an empty id")
		}
	}
	return nil
}
