package lmclient

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// checkEndpoint applies the rule to u, a portal's base URL.
func checkEndpoint(u *url.URL, company string, allowed []string, httpLoopback bool) error {
	host := strings.ToLower(u.Hostname())
	refuse := func(reason string) error { return &logicmonitor.EndpointError{URL: u.Redacted(), Reason: reason} }
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(host)
		if !httpLoopback || ip == nil || !(ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback)) {
			return refuse("plain http is allowed only to 127.0.0.1 or ::1, and only with LM_ALLOW_HTTP_LOOPBACK=true")
		}
		return nil
	default:
		return refuse("the scheme must be https")
	}
	if company != "" && host == strings.ToLower(company)+".logicmonitor.com" {
		if u.Port() != "" && u.Port() != "443" {
			return refuse("LogicMonitor serves its API on port 443")
		}
		if strings.TrimRight(u.Path, "/") != "/santaba/rest" {
			return refuse("LogicMonitor's REST API is at /santaba/rest")
		}
		return nil
	}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		if suffix, wild := strings.CutPrefix(a, "*."); wild && strings.HasSuffix(host, "."+suffix) || a == host {
			return nil
		}
	}
	if strings.HasSuffix(host, ".logicmonitor.com") {
		return refuse(fmt.Sprintf("the host %s is not the portal's own (%s.logicmonitor.com)", host, strings.ToLower(company)))
	}
	return refuse("the host " + host + " is neither the portal's LogicMonitor host nor an allowed host")
}
