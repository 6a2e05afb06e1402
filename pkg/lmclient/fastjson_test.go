package lmclient

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// slowList and slowToken decode as the client did before the fast decoder,
// the reference it must agree with.
func slowList(data []byte) (tokenListWire, bool) {
	var w tokenListWire
	if json.Unmarshal(data, &w) != nil || w.instead() != nil {
		return w, false
	}
	return w, true
}

func slowToken(data []byte) (tokenWire, bool) {
	var w tokenWire
	var probe v1Probe
	if errorEnvelope(data) != nil || json.Unmarshal(data, &probe) != nil || probe.Errmsg != nil || probe.Data != nil {
		return w, false
	}
	return w, json.Unmarshal(data, &w) == nil // validate() follows either way
}

// agree checks one input: where the fast decoder takes it, encoding/json
// takes it too and gives the same result.
func agree(t *testing.T, data []byte) (listFast, tokenFast bool) {
	t.Helper()
	return agreeOn(t, "page", data, slowList), agreeOn(t, "token", data, slowToken)
}

// agreeOn checks one answer type's fast decoder against slow; a decoder
// that gives up must leave its output untouched.
func agreeOn[T any, P interface {
	*T
	fastDecoder
}](t *testing.T, what string, data []byte, slow func([]byte) (T, bool)) bool {
	t.Helper()
	var fast T
	if !P(&fast).decodeFast(data) {
		var zero T
		if !reflect.DeepEqual(fast, zero) {
			t.Fatalf("a %s the fast decoder gave up on was changed: %+v", what, fast)
		}
		return false
	}
	want, ok := slow(data)
	if !ok || !reflect.DeepEqual(fast, want) {
		t.Fatalf("a %s decoded\n%s\nfast: %+v\nencoding/json (ok %v): %+v", what, data, fast, ok, want)
	}
	return true
}

// fastSeeds are answers as portals send them, and the forms a portal may
// plausibly send instead.
var fastSeeds = []string{
	`{"total":2,"searchId":null,"items":[{"id":1,"adminId":2,"adminName":"ci","roles":[],"accessId":"ID1","status":2,"note":"","createdOn":1,"lastUsedOn":0,"createdBy":"ci","userPermission":"write","lastAuthIp":"10.0.0.1","type":"lmv1"},{"id":2,"adminId":2,"roles":[{"name":"administrator","id":1}],"accessId":"ID2","status":1,"note":"deploys \"x\" \u00e9 #keep","createdOn":5}]}`,
	`{"total":0,"items":[]}`,
	`{"total":0,"items":null}`,
	`{"items":[]}`,
	` {"total" : 1 , "items" : [ { "id" : 7 , "note" : null , "status" : null , "roles" : null , "adminName" : null } ] } `,
	`{"total":1,"items":[{"id":7,"id":8,"note":"a","note":null,"extra":{"nested":[1,2.5e3,-0,true,false,null,"s"]}}]}`,
	`{"total":1,"items":[{"ID":7}]}`,
	`{"Total":1,"items":[]}`,
	`{"total":1.0,"items":[]}`,
	`{"total":1,"items":[{"id":"7"}]}`,
	`{"total":1,"items":[{"id":1e2}]}`,
	`{"total":1,"items":[{"id":99999999999999999999}]}`,
	`{"total":1,"items":[],"items":[{"id":1}]}`,
	`{"total":1,"items":[null]}`,
	`{"errorMessage":"Authentication failed","errorCode":1401,"errorDetail":null}`,
	`{"total":1,"items":[],"errorMessage":"x"}`,
	`{"status":200,"errmsg":"OK","data":{"total":1,"items":[]}}`,
	`{"status":200,"errmsg":null,"data":null}`,
	`{"id":5,"adminId":2,"accessId":"A","accessKey":"K(~^{)=+[ey","status":2,"note":"n","createdOn":1,"roles":["administrator"]}`,
	`{"id":5,"accessKey":null}`,
	`{"id":5,"AccessKey":"k"}`,
	`{"id":5,"errorCode":1500}`,
	`{"id":0}`,
	`{"id":5,"note":"\ud800"}`,
	"{\"id\":5,\"note\":\"\xff\"}",
	"{\"id\":5,\"note\":\"tab\there\"}",
	`{"id":5,"n\u006fte":"escaped name"}`,
	`{"id":5,"ſtatus":2}`,
	`{"id":5}garbage`,
	`{"id":5,}`,
	`{"id":5 "note":"x"}`,
	`[]`,
	`null`,
	``,
	`{"total":1,"items":[{"id":1,"roles":[{"name":"a"}, "b"]}]}`,
	`{"total":1,"items":[{"id":-0,"adminId":-5,"createdOn":9223372036854775807}]}`,
	`{"total":1,"items":[{"id":01}]}`,
	`{"total":1,"items":[{"id":1,"x":tru}]}`,
	`{"total":1,"items":[{"id":1,"x":"\q"}]}`,
}

// The fast decoder takes the plain answers, gives up on every other form,
// and where it takes one, encoding/json gives the same result.
func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	takenList, takenToken := 0, 0
	for _, s := range fastSeeds {
		l, tk := agree(t, []byte(s))
		if l {
			takenList++
		}
		if tk {
			takenToken++
		}
	}
	// The plain forms are taken (else the fast decoder would be a no-op).
	if takenList < 6 || takenToken < 4 {
		t.Fatalf("the fast decoder took %d pages and %d tokens of the seeds", takenList, takenToken)
	}
	page := `{"total":1000,"items":[` + strings.Repeat(`{"id":1,"adminId":2,"adminName":"u","roles":[],"accessId":"A","status":2,"note":"","createdOn":1,"lastUsedOn":2,"createdBy":"u","userPermission":"write","lastAuthIp":"127.0.0.1","type":"lmv1"},`, 999) + `{"id":1000}]}`
	if l, _ := agree(t, []byte(page)); !l {
		t.Fatal("a page of 1,000 plain records was left to encoding/json")
	}
}

func FuzzFastDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	for i := range 3 {
		f.Add([]byte(fmt.Sprintf(`{"total":%d,"items":[{"id":%d,"note":"n%d"}]}`, i, i, i)))
	}
	f.Fuzz(func(t *testing.T, data []byte) { agree(t, data) })
}
