// Command app is the CDK app of lmtokens (cdk.json runs it). It reads the
// settings from CDK context, builds the function binaries for the stack's
// architecture, and synthesizes the stack that infra defines.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/infra"
	"github.com/lmtokens/lmtokens/pkg/release"
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
	name := settings.StackName() // -c stackName renames it, and every name derived from it
	// The binaries are built here, for the architecture the stack declares,
	// from the source being synthesized: a stale or foreign binary cannot
	// be deployed. (-c binDir=... deploys prebuilt ones instead.)
	if settings.BinDir == "" {
		dir, err := os.MkdirTemp("", "lmtokens-build-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "lmtokens build:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		if err := release.BuildAll(".", dir, settings.GOARCH()); err != nil {
			fmt.Fprintln(os.Stderr, "lmtokens build:", err)
			os.Exit(1)
		}
		settings.BinDir = dir
	}
	if _, err := infra.NewStack(app, name, &infra.StackProps{Settings: settings}); err != nil {
		fmt.Fprintln(os.Stderr, "lmtokens stack:", err)
		os.Exit(1)
	}
	infra.CheckWithNag(app, true)
	app.Synth(nil) // copies the binaries into the cloud assembly as assets
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
	// What the CDK CLI adds to every synth, so that this template is the
	// one cdk synth and cdk deploy make.
	for k, v := range map[string]any{
		"aws:cdk:enable-path-metadata": true, "aws:cdk:enable-asset-metadata": true,
		"aws:cdk:version-reporting": true, "aws:cdk:bundling-stacks": []any{"**"},
	} {
		if _, set := doc.Context[k]; !set {
			doc.Context[k] = v
		}
	}
	return &awscdk.AppProps{Outdir: jsii.String("cdk.out"), Context: &doc.Context}
}
