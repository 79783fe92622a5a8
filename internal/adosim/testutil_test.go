package adosim

import (
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
)

// startSim generates and serves a simulator for one test. GeneratedAt is
// fixed so that generated dates do not depend on the day the test runs.
func startSim(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.GeneratedAt.IsZero() {
		opts.GeneratedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("new simulator: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// patConn connects the real v7 client with one of the default credentials.
func patConn(s *Server, credential string) *azuredevops.Connection {
	return azuredevops.NewPatConnection(s.URL(), s.Credential(credential))
}
