package infra

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// From a fresh clone, the pinned CDK CLI's synth (which builds the binaries
// through the app command in cdk.json) and make synth produce the same
// template. It needs npm; make test-deploy runs it.
func TestCLISynthFromAFreshCloneMatchesMakeSynth(t *testing.T) {
	if os.Getenv("LMTOKENS_TEST_DEPLOY") == "" {
		t.Skip("make test-deploy runs it (it fetches the CDK CLI from npm)")
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CDK_CLI_VERSION \?= (\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no CDK_CLI_VERSION in the Makefile")
	}
	clone := filepath.Join(t.TempDir(), "lmtokens")
	run := func(dir string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("..", "git", "clone", "-q", ".", clone)
	run(clone, "npx", "--yes", "aws-cdk@"+string(m[1]), "synth", "--quiet", "-o", "cli.out")
	run(clone, "make", "synth")
	if _, err := os.Stat(filepath.Join(clone, "bin")); err == nil {
		t.Error("synth left binaries in bin/: only the cloud assembly should hold them")
	}
	read := func(path string) any {
		raw, err := os.ReadFile(filepath.Join(clone, path))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cli, mk := read("cli.out/LMTokens.template.json"), read("cdk.out/LMTokens.template.json")
	a, _ := json.MarshalIndent(cli, "", " ")
	b, _ := json.MarshalIndent(mk, "", " ")
	if !bytes.Equal(a, b) {
		t.Fatalf("cdk synth and make synth differ:\n%s", firstDifference(a, b))
	}
}

func firstDifference(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return "line " + strconv.Itoa(i+1) + ":\ncli:  " + string(la[i]) + "\nmake: " + string(lb[i])
		}
	}
	return "lengths differ"
}
