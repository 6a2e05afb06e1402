package lmsandbox

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// Server is a portal served on a loopback port.
type Server struct {
	*Portal
	// URL is the REST base URL, ending in /santaba/rest.
	URL string
	srv *httptest.Server
}

// NewServer starts a portal on 127.0.0.1 with a random port.
func NewServer(cfg Config) *Server {
	p := New(cfg)
	srv := httptest.NewServer(p)
	return &Server{Portal: p, URL: srv.URL + RestPrefix, srv: srv}
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// MultiServer serves several portals (companies) on one loopback port, each
// under /<company>/santaba/rest with its own users, tokens, credentials and
// rate limits, as LogicMonitor serves each company on its own host.
type MultiServer struct {
	srv *httptest.Server
	mux *http.ServeMux

	mu      sync.Mutex
	portals map[string]*Portal
}

// NewMultiServer starts a server with no portals yet.
func NewMultiServer() *MultiServer {
	m := &MultiServer{mux: http.NewServeMux(), portals: map[string]*Portal{}}
	m.srv = httptest.NewServer(m.mux)
	return m
}

// AddPortal adds the portal of company and returns it with its REST base URL.
func (m *MultiServer) AddPortal(company string, cfg Config) (*Portal, string) {
	p := New(cfg)
	m.mu.Lock()
	m.portals[company] = p
	m.mu.Unlock()
	m.mux.Handle("/"+company+"/", http.StripPrefix("/"+company, p))
	return p, m.URL(company)
}

// Portal returns a company's portal.
func (m *MultiServer) Portal(company string) *Portal {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.portals[company]
}

// URL is a company's REST base URL, the baseUrl of its portal secret.
func (m *MultiServer) URL(company string) string { return m.srv.URL + "/" + company + RestPrefix }

// Close stops the server.
func (m *MultiServer) Close() { m.srv.Close() }
