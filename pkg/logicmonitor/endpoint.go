package logicmonitor

import (
	"fmt"
)

// Credentials go to LogicMonitor and nowhere else. A portal's endpoint is
// https://<company>.logicmonitor.com/santaba/rest, or an https endpoint on
// a host the deployment allows (a private endpoint: an exact host, or
// *.suffix). Plain http goes only to 127.0.0.1 or ::1, and only when the
// deployment allows it (local runs and tests; the stack never does). A
// redirect is never followed (see lmclient.Client.do): the credentials would go with
// it to wherever it points.

// EndpointError says a portal's endpoint breaks that rule: no request is
// sent to it.
type EndpointError struct {
	URL    string
	Reason string
}

func (e *EndpointError) Error() string {
	return fmt.Sprintf("endpoint %s refused: %s; credentials are sent only to https://<company>.logicmonitor.com/santaba/rest or an allowed host (LM_ALLOWED_HOSTS)", e.URL, e.Reason)
}
