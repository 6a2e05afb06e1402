package strictjson_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/strictjson"
)

type inner struct {
	Note string `json:"note"`
}

type request struct {
	inner
	DryRun *bool  `json:"dryRun"`
	Name   string `json:"name,omitempty"`
	Skip   string `json:"-"`
}

func TestExactNames(t *testing.T) {
	var r request
	if err := strictjson.Decode([]byte(`{"dryRun":true,"note":"n","name":"x"}`), &r); err != nil || !*r.DryRun || r.Note != "n" {
		t.Fatalf("%+v %v", r, err)
	}
	for in, want := range map[string]string{
		`{"DryRun":false}`:               "case-sensitive",
		`{"dryRun":true,"dryRun":false}`: "twice",
		`{"dryrun":true}`:                "did you mean",
		`{"other":1}`:                    `unknown field "other"`,
		`{"Skip":"x"}`:                   "unknown field",
		`{"note":"a"} {}`:                "after the JSON object",
		`[1]`:                            "not a JSON object",
		`{"note":"a"`:                    "not valid JSON",
	} {
		var r request
		err := strictjson.Decode([]byte(in), &r)
		var se *strictjson.Error
		if !errors.As(err, &se) || !strings.Contains(se.Msg, want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	// Types are still checked by encoding/json.
	if err := strictjson.Decode([]byte(`{"dryRun":"yes"}`), &r); err == nil {
		t.Error("a string for a bool was accepted")
	}
}
