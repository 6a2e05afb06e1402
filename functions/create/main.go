// Command create is the lmtokens Lambda function that creates an API token and stores its key in Secrets Manager.
// All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Handler(handlers.Create))
}
