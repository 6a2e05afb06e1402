package lmsandbox

import (
	"net/http/httptest"
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
