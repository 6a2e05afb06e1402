package lmclient

import "github.com/lmtokens/lmtokens/pkg/logicmonitor"

func kindForStatus(status int) logicmonitor.Kind {
	switch {
	case status == 404:
		return logicmonitor.KindNotFound
	case status == 401 || status == 403:
		return logicmonitor.KindUnauthorized
	case status == 429:
		return logicmonitor.KindRateLimited
	case status >= 400 && status < 500:
		return logicmonitor.KindValidation
	default:
		return logicmonitor.KindUpstream
	}
}
