// Command app is the CDK app of lmtokens (cdk.json runs it). It only reads
// the settings from CDK context and builds the stack that infra defines.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/lmtokens/lmtokens/infra"
)

func main() {
	// No jsii.Close(): it races the runtime's own wait on the node process
	// and prints a spurious "exited abnormally"; node exits when we do.
	app := awscdk.NewApp(appProps())
	settings, err := infra.SettingsFromContext(func(k string) any { return app.Node().TryGetContext(jsii.String(k)) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "lmtokens settings:", err)
		os.Exit(1)
	}
	name := "LMTokens"
	if v, ok := app.Node().TryGetContext(jsii.String("stackName")).(string); ok && v != "" {
		name = v
	}
	if _, err := infra.NewStack(app, name, &infra.StackProps{Settings: settings}); err != nil {
		fmt.Fprintln(os.Stderr, "lmtokens stack:", err)
		os.Exit(1)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}

// appProps lets the app also run without the CDK CLI (make synth): the CLI
// passes cdk.json's context in CDK_CONTEXT_JSON; without it, the app reads
// cdk.json itself and writes the assembly to cdk.out.
func appProps() *awscdk.AppProps {
	if os.Getenv("CDK_CONTEXT_JSON") != "" || os.Getenv("CDK_OUTDIR") != "" {
		return nil
	}
	raw, err := os.ReadFile("cdk.json")
	if err != nil {
		return &awscdk.AppProps{Outdir: jsii.String("cdk.out")}
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		fmt.Fprintln(os.Stderr, "cdk.json:", err)
		os.Exit(1)
	}
	return &awscdk.AppProps{Outdir: jsii.String("cdk.out"), Context: &doc.Context}
}
