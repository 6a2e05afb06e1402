// Command delete is the lmtokens Lambda function that deletes a token and schedules its secret's deletion, and runs the cleanup delete stage.
// All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Handler(handlers.Delete))
}
