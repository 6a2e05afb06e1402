package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// ResourceType is the custom resource the provider serves
// (AWS::CloudFormation::CustomResource works as well).
const ResourceType = "Custom::LogicMonitorApiToken"

// tokenProps are a Custom::LogicMonitorApiToken's properties. CloudFormation
// sends every value as a string.
type tokenProps struct {
	Portal  string
	AdminID int64
	Type    string
	Status  int
	Note    string
	// RotationDays schedules the key's rotation (0: the deployment's
	// default for a new token; an update leaves the schedule alone).
	RotationDays int
	// ExpiresInDays or ExpiresAt (RFC 3339) end the token's lifetime; a
	// change of either makes a new token (CloudFormation then deletes the
	// old one).
	ExpiresInDays int
	ExpiresAt     string
}

// knownProps are the properties a resource may have (ServiceToken and
// ServiceTimeout are CloudFormation's own).
var knownProps = []string{"AdminId", "Note", "Type", "Status", "Portal", "RotationDays", "ExpiresInDays", "ExpiresAt", "ServiceToken", "ServiceTimeout"}

// DeploymentType is the heartbeat resource of lmtokens' own stack (see
// catalog.DeploymentType).
const DeploymentType = catalog.DeploymentType

func parseProps(raw map[string]any) (tokenProps, error) {
	var p tokenProps
	for k := range raw {
		known := false
		for _, n := range knownProps {
			known = known || k == n
		}
		if !known {
			return p, fmt.Errorf("unknown property %q (known: AdminId, Note, Type, Status, Portal, RotationDays, ExpiresInDays, ExpiresAt, and CloudFormation's ServiceToken and ServiceTimeout)", k)
		}
	}
	str := func(k string) (string, error) {
		v, ok := raw[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		return s, nil
	}
	admin, _ := str("AdminId")
	id, err := tokens.ParseID(admin)
	if err != nil {
		return p, fmt.Errorf("property AdminId %q %v", admin, err)
	}
	p.AdminID = id
	p.Portal, _ = str("Portal")
	p.Note, _ = str("Note")
	if e := checkNote(p.Note); e != nil {
		return p, errors.New(e.Message)
	}
	p.Type, _ = str("Type")
	if p.Type == "" {
		p.Type = logicmonitor.TypeLMv1
	}
	if e := checkType(p.Type); e != nil {
		return p, errors.New(e.Message)
	}
	status, _ := str("Status")
	switch status {
	case "", "enabled":
		p.Status = logicmonitor.StatusEnabled
	case "disabled":
		p.Status = logicmonitor.StatusDisabled
	default:
		return p, fmt.Errorf("property Status %q must be enabled or disabled", status)
	}
	if days, _ := str("RotationDays"); days != "" {
		n, err := tokens.ParseID(days)
		if err != nil || n > int64(tokens.MaxRotationDays) {
			return p, fmt.Errorf("property RotationDays %q must be a whole number of days from 1 to %d", days, tokens.MaxRotationDays)
		}
		p.RotationDays = int(n)
	}
	if days, _ := str("ExpiresInDays"); days != "" {
		n, err := tokens.ParseID(days)
		if err != nil || n > int64(tokens.MaxLifetimeDays) {
			return p, fmt.Errorf("property ExpiresInDays %q must be a whole number of days from 1 to %d", days, tokens.MaxLifetimeDays)
		}
		p.ExpiresInDays = int(n)
	}
	p.ExpiresAt, _ = str("ExpiresAt")
	if p.ExpiresAt != "" {
		if p.ExpiresInDays > 0 {
			return p, errors.New("give the property ExpiresInDays or ExpiresAt, not both")
		}
		if _, err := time.Parse(time.RFC3339, p.ExpiresAt); err != nil {
			return p, fmt.Errorf("property ExpiresAt %q must be a time in RFC 3339, such as 2027-06-30T00:00:00Z", p.ExpiresAt)
		}
	}
	return p, nil
}

// lifetime is the create input's lifetime of the properties.
func (p tokenProps) lifetime(in *tokens.CreateInput) {
	in.ExpiresInDays = p.ExpiresInDays
	if at, err := time.Parse(time.RFC3339, p.ExpiresAt); err == nil {
		in.ExpiresAt = &at
	}
}

// physicalID names the portal, the user and the token, and is stable for
// the token's life: lmtokens:<portal|default>:<adminId>:<tokenId>.
func physicalID(portal string, adminID, tokenID int64) string {
	if portal == "" {
		portal = "default"
	}
	return fmt.Sprintf("lmtokens:%s:%d:%d", portal, adminID, tokenID)
}

// parsePhysicalID reads a physical id; ok is false for any other id (one
// CloudFormation made up for a create that failed).
func parsePhysicalID(id string) (portal string, adminID, tokenID int64, ok bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 4 || parts[0] != "lmtokens" {
		return "", 0, 0, false
	}
	a, err1 := tokens.ParseID(parts[2])
	t, err2 := tokens.ParseID(parts[3])
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	if parts[1] != "default" {
		portal = parts[1]
	}
	return portal, a, t, true
}

// Provider is the Lambda handler of the custom resource provider. It
// first checks where the event says it comes from (see trustedEvent): an
// event that fails is refused with a function error, and nothing, not even
// an answer, is sent anywhere. Otherwise it answers CloudFormation at its
// pre-signed URL whatever happens (a failure, a panic, a deadline that
// nears) and never puts a key in the answer.
func (s *Service) Provider() func(context.Context, cfn.Event) (string, error) {
	return func(ctx context.Context, ev cfn.Event) (string, error) {
		start := time.Now()
		counter := s.domain.Counter()
		ctx = logging.WithWho(ctx, logging.Who{Caller: "cloudformation:" + ev.StackID})
		attrs := []any{slog.String("function", "provider"), slog.String("requestType", string(ev.RequestType)),
			slog.String("resourceType", ev.ResourceType), slog.String("logicalResourceId", ev.LogicalResourceID)}
		if err := s.trustedEvent(ctx, ev); err != nil {
			s.log.ErrorContext(ctx, "custom resource event refused", append(attrs, slog.String("error", err.Error()))...)
			return "", functionError(err)
		}
		work, cancel := tokens.ReserveForCleanUp(ctx)
		defer cancel()
		// The log names what was answered (the physical id of a Create is
		// only known afterwards) and why a FAILED answer failed.
		var physicalID string
		var failure error
		sendErr := answerCloudFormation(work, ev, cfnClient(), func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
			id, data, err := s.customResource(ctx, ev)
			physicalID, failure = id, err
			return id, data, err
		})
		attrs = append(attrs, slog.String("physicalResourceId", physicalID), slog.String("verified", "stack in this account and region; answer to CloudFormation's response bucket"),
			slog.Int64("lmRequests", counter()), slog.Int64("durationMs", time.Since(start).Milliseconds()))
		switch {
		case sendErr != nil:
			s.log.ErrorContext(ctx, "custom resource answer not delivered", append(attrs, slog.String("error", sendErr.Error()))...)
			return sendErr.Error(), nil
		case failure != nil:
			s.log.WarnContext(ctx, "custom resource answered FAILED", append(attrs, slog.String("error", failure.Error()))...)
		default:
			s.log.InfoContext(ctx, "custom resource done", attrs...)
		}
		return "", nil
	}
}

// customResource carries out one CloudFormation request.
func (s *Service) customResource(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	if ev.ResourceType == DeploymentType {
		if ev.RequestType != cfn.RequestDelete {
			s.log.InfoContext(ctx, "stack deployed", "function", "provider", "stackId", ev.StackID, "requestType", string(ev.RequestType))
		}
		return "lmtokens-deployment", nil, nil
	}
	if cfgErr := s.domain.ConfigErr(); cfgErr != nil {
		return "", nil, fmt.Errorf("configuration: %v", cfgErr)
	}
	switch ev.RequestType {
	case cfn.RequestDelete:
		return s.deleteResource(ctx, ev)
	case cfn.RequestCreate:
		p, err := parseProps(ev.ResourceProperties)
		if err != nil {
			return "", nil, err
		}
		return s.createResource(ctx, ev, p)
	case cfn.RequestUpdate:
		p, err := parseProps(ev.ResourceProperties)
		if err != nil {
			return ev.PhysicalResourceID, nil, err
		}
		portal, admin, token, ok := parsePhysicalID(ev.PhysicalResourceID)
		old, _ := parseProps(ev.OldResourceProperties)
		if !ok || portal != p.Portal || admin != p.AdminID || old.Type != p.Type || old.ExpiresInDays != p.ExpiresInDays || old.ExpiresAt != p.ExpiresAt {
			// A new token; CloudFormation deletes the old one afterwards.
			return s.createResource(ctx, ev, p)
		}
		return s.updateResource(ctx, p, old, token)
	}
	return "", nil, fmt.Errorf("unknown RequestType %q", ev.RequestType)
}

// createResource makes the token with the request's id as idempotency key:
// CloudFormation's retry of the same request makes nothing twice.
func (s *Service) createResource(ctx context.Context, ev cfn.Event, p tokenProps) (string, map[string]any, error) {
	h := sha256.Sum256([]byte(ev.StackID + "\x00" + ev.LogicalResourceID + "\x00" + ev.RequestID))
	in := tokens.CreateInput{Portal: p.Portal, AdminID: p.AdminID, Type: p.Type, Status: p.Status, Note: p.Note,
		RotationDays: p.RotationDays, IdempotencyKey: "cfn-" + hex.EncodeToString(h[:])}
	p.lifetime(&in)
	out, err := s.domain.Create(ctx, in)
	if err != nil {
		return "", nil, errors.New(classify(err, s.cfg.CredentialsSecret).Message)
	}
	data := map[string]any{
		"TokenId": strconv.FormatInt(out.ID, 10), "AccessId": out.AccessID, "SecretArn": out.Secret.ARN,
		"SecretName": out.Secret.Name, "AdminName": out.AdminName, "ExpiresAt": "",
	}
	if out.ExpiresAt != nil {
		data["ExpiresAt"] = out.ExpiresAt.Format(time.RFC3339)
	}
	return physicalID(p.Portal, out.AdminID, out.ID), data, nil
}

// updateResource changes note and status in place, of the token the
// resource stands for now (see tokens.Service.UpdateManaged).
func (s *Service) updateResource(ctx context.Context, p, old tokenProps, first int64) (string, map[string]any, error) {
	id := physicalID(p.Portal, p.AdminID, first)
	in := tokens.UpdateInput{Portal: p.Portal, AdminID: p.AdminID, TokenID: first, Status: p.Status, Note: p.Note}
	if p.RotationDays != old.RotationDays {
		in.RotationDays = p.RotationDays
	}
	out, err := s.domain.UpdateManaged(ctx, in)
	if err != nil {
		return id, nil, errors.New(classify(err, s.cfg.CredentialsSecret).Message)
	}
	return id, map[string]any{"TokenId": strconv.FormatInt(out.TokenID, 10), "AccessId": out.AccessID, "AdminName": out.AdminName,
		"SecretName": out.Secret.Name, "SecretArn": out.Secret.ARN}, nil
}

// deleteResource deletes the token (the one its secret holds now) and
// schedules its secret's deletion. A resource that never became a token
// (its create failed), or whose token is gone, deletes fine, so a failed
// stack can roll back and be deleted.
func (s *Service) deleteResource(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	portal, admin, token, ok := parsePhysicalID(ev.PhysicalResourceID)
	if !ok {
		return ev.PhysicalResourceID, nil, nil
	}
	if err := s.domain.DeleteManaged(ctx, tokens.DeleteInput{Portal: portal, AdminID: admin, TokenID: token}); err != nil {
		return ev.PhysicalResourceID, nil, errors.New(classify(err, s.cfg.CredentialsSecret).Message)
	}
	return ev.PhysicalResourceID, nil, nil
}
