package handlers

import (
	"context"
	"encoding/json"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/strictjson"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// RotationStep is Secrets Manager's event to a rotation function:
// SecretId, ClientRequestToken (the new version's id), Step, and a
// RotationToken that PutSecretValue passes back (sensitive: never logged).
type RotationStep = lambdaevents.SecretsManagerSecretRotationEvent

// Rotator returns the handler of the rotation function, which Secrets
// Manager invokes once per step of a rotation of a stored key or of a
// credentials secret. A step that fails answers a function error, which
// Secrets Manager records; it retries the rotation later.
func (s *Service) Rotator() func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		start := time.Now()
		lmRequests := s.domain.Counter()
		ctx = logging.WithWho(ctx, logging.Who{Caller: "secretsmanager.amazonaws.com"})
		var in RotationStep
		err := strictjson.Decode(raw, &in)
		if err != nil || in.SecretID == "" || in.ClientRequestToken == "" {
			err = invalid(`a rotation function takes {"SecretId", "ClientRequestToken", "Step", "RotationToken"?} from Secrets Manager`)
		} else if cfgErr := s.domain.ConfigErr(); cfgErr != nil {
			err = &Error{Kind: tokens.KindConfiguration, Message: "configuration: " + cfgErr.Error()}
		} else {
			work, cancel := tokens.ReserveForCleanUp(ctx)
			var outcome string
			outcome, err = s.domain.RotationStep(work, tokens.RotationStep{
				SecretID: in.SecretID, ClientRequestToken: in.ClientRequestToken, Step: in.Step, RotationToken: in.RotationToken})
			cancel()
			if err == nil {
				s.log.InfoContext(ctx, "rotation step done", "function", "rotate", "secret", in.SecretID, "version", in.ClientRequestToken,
					"step", in.Step, "outcome", outcome, "lmRequests", lmRequests(), "durationMs", time.Since(start).Milliseconds())
				return map[string]string{"step": in.Step, "outcome": outcome}, nil
			}
		}
		e := classify(err, s.cfg.CredentialsSecret)
		s.log.ErrorContext(ctx, "rotation step failed", "function", "rotate", "secret", in.SecretID, "version", in.ClientRequestToken,
			"step", in.Step, "errorType", wireOf(e.Kind).function, "error", e.Message, "lmRequests", lmRequests(), "durationMs", time.Since(start).Milliseconds())
		return nil, functionError(e)
	}
}
