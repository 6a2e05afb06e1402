package handlers

import (
	"math"
	"runtime/debug"
	"testing"
)

// The collector is sized to the function's memory: a soft limit at 80% of
// it and GOGC 200; GOGC or GOMEMLIMIT set by the deployment win, and
// without a memory size (not in Lambda) nothing changes.
func TestTuneGCSizesTheCollectorToTheFunctionsMemory(t *testing.T) {
	limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(percent) })
	reset := func() { debug.SetMemoryLimit(math.MaxInt64); debug.SetGCPercent(100) }

	reset()
	t.Setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
	tuneGC()
	if got, p := debug.SetMemoryLimit(-1), debug.SetGCPercent(100); got != 256<<20/10*8 || p != 200 {
		t.Fatalf("256 MB: limit %d, GOGC %d", got, p)
	}
	for _, env := range [][2]string{{"GOGC", "100"}, {"GOMEMLIMIT", "100MiB"}, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""}} {
		t.Run(env[0], func(t *testing.T) {
			reset()
			t.Setenv(env[0], env[1]) // the memory size stays 256 but for the last
			tuneGC()
			if got, p := debug.SetMemoryLimit(-1), debug.SetGCPercent(100); got != math.MaxInt64 || p != 100 {
				t.Fatalf("%s=%q: limit %d, GOGC %d: the deployment's choice was overridden", env[0], env[1], got, p)
			}
		})
	}
}
