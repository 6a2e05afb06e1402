// Command build writes the release binaries of every function to
// <out>/<binary>/bootstrap (make build runs it), by default for the
// architecture cdk.json declares.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/lmtokens/lmtokens/pkg/release"
)

func main() {
	out := flag.String("out", "bin", "directory to write <binary>/bootstrap to")
	arch := flag.String("arch", "cdk.json", `GOARCH for linux, "" for this machine, or cdk.json for its architecture setting`)
	flag.Parse()
	goarch := *arch
	if goarch == "cdk.json" {
		goarch = fromCdkJSON()
	}
	if err := release.BuildAll(".", *out, goarch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// fromCdkJSON maps cdk.json's architecture (arm64, x86_64) to a GOARCH.
func fromCdkJSON() string {
	var doc struct {
		Context struct {
			Architecture string `json:"architecture"`
		} `json:"context"`
	}
	if raw, err := os.ReadFile("cdk.json"); err == nil {
		_ = json.Unmarshal(raw, &doc)
	}
	if doc.Context.Architecture == "x86_64" {
		return "amd64"
	}
	return "arm64"
}
