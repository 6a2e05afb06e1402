// Command toggle is the lmtokens Lambda function that enables or disables a token (or changes its note), and runs the cleanup disable stage.
// All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Handler(handlers.Toggle))
}
