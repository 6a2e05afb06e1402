package localdev

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the lines of the README's fenced blocks whose info
// string is "sh <tag>".
func readmeBlocks(t *testing.T, tag string) []string {
	t.Helper()
	f, err := os.Open("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == "```sh "+tag:
			in = true
		case in && line == "```":
			in = false
		case in && line != "" && !strings.HasPrefix(line, "#"):
			lines = append(lines, line)
		}
	}
	return lines
}

func run(t *testing.T, dir, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README command %q failed: %v\n%s", command, err, out)
	}
	return string(out)
}

// The README's runnable blocks work as written, from the repository root.
func TestReadmeRunnableBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make")
	}
	lines := readmeBlocks(t, "runnable")
	if len(lines) < 3 {
		t.Fatalf("only %d runnable README lines", len(lines))
	}
	for _, l := range lines {
		out := run(t, "../../..", l)
		if strings.Contains(out, "accessKey\":") {
			t.Fatalf("%q printed a key field:\n%s", l, out)
		}
	}
}

// The README's curl examples answer 2xx against `make local`'s gateway.
func TestReadmeCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the examples need it")
	}
	s := start(t)
	srv := httptest.NewServer(s.APIGateway())
	defer srv.Close()
	lines := readmeBlocks(t, "local")
	if len(lines) < 6 {
		t.Fatalf("only %d curl examples", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "curl ") || !strings.Contains(l, "http://127.0.0.1:3000") {
			t.Fatalf("not a curl example against make local: %q", l)
		}
		run(t, ".", strings.Replace(strings.ReplaceAll(l, "http://127.0.0.1:3000", srv.URL), "curl ", "curl -f ", 1))
	}
}
