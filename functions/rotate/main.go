// Command rotate is the lmtokens Lambda function Secrets Manager invokes to
// rotate a stored key or a credentials secret (createSecret, setSecret,
// testSecret, finishSecret). All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Rotator())
}
