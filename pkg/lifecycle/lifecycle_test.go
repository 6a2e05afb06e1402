package lifecycle_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lmtokens/lmtokens/pkg/awsevents"
	"github.com/lmtokens/lmtokens/pkg/clip"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/localevents"
)

func emitter(url string, log *bytes.Buffer) *lifecycle.Emitter {
	api := awsevents.NewClient(url, "us-east-1", credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""))
	return &lifecycle.Emitter{API: api, Bus: "bus", Log: slog.New(slog.NewJSONHandler(log, nil))}
}

func tokens(n int, note string) []lifecycle.Event {
	evs := make([]lifecycle.Event, n)
	for i := range evs {
		evs[i] = lifecycle.Event{DetailType: lifecycle.TokenWillBeDisabled, Detail: lifecycle.Token{TokenID: int64(i + 1), Note: note}}
	}
	return evs
}

// Large events are packed so that no call exceeds 256 KB as EventBridge
// counts it (the local bus refuses such a call whole), and every one is
// delivered.
func TestCallsStayWithinPutEventsLimits(t *testing.T) {
	t.Parallel()
	eb := localevents.Start()
	defer eb.Close()
	var log bytes.Buffer
	big := strings.Repeat("n", 60<<10)
	evs := []lifecycle.Event{}
	for i := range 30 {
		// Summaries near the limit and small warnings, mixed.
		evs = append(evs, lifecycle.Event{DetailType: lifecycle.CleanupRunCompleted, Detail: map[string]any{"i": i, "pad": big}})
		evs = append(evs, tokens(3, "short")...)
	}
	d := emitter(eb.URL, &log).Deliver(context.Background(), time.Now().Add(10*time.Second), evs...)
	calls, largest := eb.Calls()
	if d.Undelivered != 0 || len(eb.Events()) != len(evs) {
		t.Fatalf("%d of %d undelivered, %d accepted: %s", d.Undelivered, len(evs), len(eb.Events()), log.String())
	}
	if largest > lifecycle.MaxCallBytes || calls < len(evs)/lifecycle.MaxEntries {
		t.Fatalf("%d calls, largest %d bytes", calls, largest)
	}
}

// 2,000 events against a bus that takes 25 ms a call are all delivered,
// because calls run side by side; with one call at a time the same run
// would need 5 s.
func TestThousandsOfEventsAgainstASlowBus(t *testing.T) {
	t.Parallel()
	eb := localevents.Start()
	defer eb.Close()
	eb.SetLatency(25 * time.Millisecond)
	var log bytes.Buffer
	e := emitter(eb.URL, &log)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	d := e.Deliver(ctx, time.Now().Add(time.Minute), tokens(2000, "soon")...)
	if d.Undelivered != 0 || len(eb.Events()) != 2000 {
		t.Fatalf("%d undelivered, %d accepted", d.Undelivered, len(eb.Events()))
	}
	// Side by side, and never more than 8 calls at once.
	if n := eb.MaxInFlight(); n < 2 || n > 8 {
		t.Fatalf("%d calls at once", n)
	}
}

// Entries refused one by one are retried; a bus that keeps failing leaves
// each event logged in full and counted, and Delivered says which.
func TestUndeliveredEventsAreCountedAndLogged(t *testing.T) {
	t.Parallel()
	eb := localevents.Start()
	defer eb.Close()
	var log bytes.Buffer
	e := emitter(eb.URL, &log)
	eb.FailEntries(3)
	if d := e.Deliver(context.Background(), time.Now().Add(5*time.Second), tokens(12, "x")...); d.Undelivered != 0 || len(eb.Events()) != 12 {
		t.Fatalf("refused entries were not retried: %+v", d)
	}
	eb.Reset()
	eb.FailCalls(1000)
	d := e.Deliver(context.Background(), time.Now().Add(400*time.Millisecond), tokens(3, "lost")...)
	if d.Undelivered != 3 || d.Delivered[0] || strings.Count(log.String(), `"msg":"event not delivered"`) != 3 || !strings.Contains(log.String(), `"note":"lost"`) {
		t.Fatalf("%+v\n%s", d, log.String())
	}
	// An emitter with no bus has nothing to deliver to.
	if d := (&lifecycle.Emitter{}).Emit(context.Background(), tokens(2, "x")...); d.Undelivered != 0 || !d.Delivered[1] {
		t.Fatalf("%+v", d)
	}
}

// A token event's free text is clipped, at a character boundary, with a
// marker: no note can make an event too large.
func TestDetailsAreBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 100_000)
	tok := lifecycle.Token{Note: long, Error: long, AdminName: long, Before: &lifecycle.State{Note: long}, Secret: &lifecycle.Secret{Name: long}}.Bounded()
	for _, s := range []string{tok.Note, tok.Error, tok.AdminName, tok.Before.Note, tok.Secret.Name} {
		if len(s) > clip.MaxText || !strings.HasSuffix(s, clip.Marker) || !utf8.ValidString(s) {
			t.Fatalf("not clipped: %d bytes", len(s))
		}
	}
	if clip.Text("short", 10) != "short" {
		t.Fatal("a short text was changed")
	}
	eb := localevents.Start()
	defer eb.Close()
	var log bytes.Buffer
	if d := emitter(eb.URL, &log).Emit(context.Background(), lifecycle.Event{DetailType: lifecycle.TokenUpdated, Detail: lifecycle.Token{Note: strings.Repeat("n", 300<<10)}}); d.Undelivered != 0 {
		t.Fatalf("a long note made an event undeliverable: %s", log.String())
	}
}
