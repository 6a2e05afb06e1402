package localdev

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// cfnReceiver stands in for CloudFormation's pre-signed response URLs: a
// CloudFormation event sent to a function through the stack has its
// ResponseURL pointed here, and the answer the function PUTs is kept.
type cfnReceiver struct {
	url string
	mu  sync.Mutex
	got map[string]json.RawMessage // request id -> the answer
}

func (r *cfnReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 8<<10))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[strings.TrimPrefix(req.URL.Path, "/")] = body
}

// rewrite points a CloudFormation event's ResponseURL at the receiver, and
// returns the request id ("" for any other event).
func (r *cfnReceiver) rewrite(event []byte) ([]byte, string) {
	var ev map[string]any
	if json.Unmarshal(event, &ev) != nil {
		return event, ""
	}
	id, _ := ev["RequestId"].(string)
	if _, ok := ev["ResponseURL"]; !ok || id == "" {
		return event, ""
	}
	ev["ResponseURL"] = r.url + "/" + id
	out, _ := json.Marshal(ev)
	return out, id
}

// CFNAnswer returns what a function answered CloudFormation for requestID.
func (s *Stack) CFNAnswer(requestID string) (json.RawMessage, bool) {
	s.cfn.mu.Lock()
	defer s.cfn.mu.Unlock()
	a, ok := s.cfn.got[requestID]
	return a, ok
}
