package lmclient

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

func parseRate(h http.Header, now time.Time) (logicmonitor.Rate, bool) {
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	window, err3 := strconv.ParseFloat(h.Get("X-Rate-Limit-Window"), 64)
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 || window <= 0 {
		return logicmonitor.Rate{}, false
	}
	return logicmonitor.Rate{Limit: limit, Remaining: remaining, Window: time.Duration(window * float64(time.Second)), Observed: now}, true
}

// parseRetryAfter reads Retry-After in seconds (the form LogicMonitor uses)
// or as an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// pacer keeps a client under LogicMonitor's rate limit before it answers 429.
//
// It learns each endpoint's limit and window from the response headers and
// keeps a log of its own requests per endpoint, each at the time it was sent
// and, once answered, at the time its answer arrived: the portal counted it
// somewhere in between, so the later time is the safe one (a request held up
// on its way in, by a busy host or network, cannot make the next window's
// first request look early to the portal). A request may go when fewer than
// Limit of the client's requests fall within the last Window, and
// when the portal's own Remaining count (which also counts other clients of
// the account) has not run out. After a 429 every request to that endpoint
// waits until the portal's Retry-After or window has passed. One pacer serves
// all goroutines of a client.
type pacer struct {
	mu        sync.Mutex
	endpoints map[string]*endpointPace
	now       func() time.Time
}

type endpointPace struct {
	// Until a response tells the limit, at most probeBurst requests are in
	// flight; the others wait on learned.
	probing int
	learned chan struct{}

	rate      logicmonitor.Rate
	sent      []*sent   // requests within the window, oldest first
	notBefore time.Time // set by a 429 or an exhausted Remaining
}

// sent is one request in a pacer's log: when it left, then when its answer
// (or failure) came back.
type sent struct{ at time.Time }

// margin absorbs the difference between when a request leaves the client and
// when the portal counts it.
const paceMargin = 50 * time.Millisecond

// probeBurst is how many requests may go to an endpoint before its limit is
// known: two, so that listing both token types starts in one round trip.
const probeBurst = 2

func newPacer() *pacer {
	return &pacer{endpoints: map[string]*endpointPace{}, now: time.Now}
}

// endpoint returns key's state, creating it; it must be called with p.mu held.
func (p *pacer) endpoint(key string) *endpointPace {
	ep := p.endpoints[key]
	if ep == nil {
		ep = &endpointPace{learned: make(chan struct{})}
		p.endpoints[key] = ep
	}
	return ep
}

// wait blocks until a request to key may be sent, and records it as sent;
// done must be called with what it returns once the attempt has ended.
func (p *pacer) wait(ctx context.Context, key string) (*sent, error) {
	for {
		p.mu.Lock()
		ep := p.endpoint(key)
		now := p.now()
		if !ep.rate.Known() {
			if ep.learned != nil && ep.probing >= probeBurst {
				ch := ep.learned
				p.mu.Unlock()
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-ch:
				}
				continue
			}
			ep.probing++
			rec := &sent{at: now}
			ep.sent = append(ep.sent, rec)
			p.mu.Unlock()
			return rec, nil
		}
		// Forget requests that have left the window.
		cut := 0
		for cut < len(ep.sent) && now.Sub(ep.sent[cut].at) >= ep.rate.Window+paceMargin {
			cut++
		}
		ep.sent = ep.sent[cut:]

		var until time.Time
		switch {
		case now.Before(ep.notBefore):
			until = ep.notBefore
		case len(ep.sent) >= ep.rate.Limit:
			until = ep.sent[len(ep.sent)-ep.rate.Limit].at.Add(ep.rate.Window + paceMargin)
		}
		if until.IsZero() || !until.After(now) {
			rec := &sent{at: now}
			ep.sent = append(ep.sent, rec)
			p.mu.Unlock()
			return rec, nil
		}
		p.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && until.After(dl) {
			// Waiting cannot end in time: say so at once instead of
			// holding the invocation until its deadline.
			return nil, &waitTooLong{wait: until.Sub(now)}
		}
		t := time.NewTimer(until.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// waitTooLong says the rate limit allows the next request only after the
// caller's deadline.
type waitTooLong struct{ wait time.Duration }

func (e *waitTooLong) Error() string {
	return "the rate limit allows the next request in " + e.wait.Round(time.Second).String() + ", after this call's deadline"
}

// observe records the rate-limit state of a response to key.
func (p *pacer) observe(key string, r logicmonitor.Rate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoint(key)
	ep.rate = r
	ep.release()
	if r.Remaining <= 0 && len(ep.sent) < r.Limit {
		// Others used the window up: fall back to the average rate.
		if nb := r.Observed.Add(r.Window / time.Duration(r.Limit)); nb.After(ep.notBefore) {
			ep.notBefore = nb
		}
	}
}

// done is called after every attempt to key, with what wait returned. The
// request now counts from its answer's arrival (the log stays in order). An
// attempt that brought no rate-limit headers (a transport failure, a portal
// that sends none) must not keep the others waiting.
func (p *pacer) done(key string, rec *sent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[key]
	if ep != nil && rec != nil {
		// Its new time is the latest in the log: it moves to the end,
		// which keeps the log in order without sorting it.
		rec.at = p.now()
		if i := slices.Index(ep.sent, rec); i >= 0 {
			ep.sent = append(slices.Delete(ep.sent, i, i+1), rec)
		}
	}
	if ep != nil && !ep.rate.Known() {
		ep.probing--
		if ep.probing <= 0 {
			ep.release()
		}
	}
}

func (ep *endpointPace) release() {
	if ep.learned != nil {
		close(ep.learned)
		ep.learned = nil
	}
}

// throttled records a 429: nothing goes to key before the wait has passed.
func (p *pacer) throttled(key string, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoint(key)
	if nb := p.now().Add(wait); nb.After(ep.notBefore) {
		ep.notBefore = nb
	}
}
