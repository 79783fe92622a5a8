package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

// entraAppEnv is the environment a process needs to sign in as the
// simulator's first Entra app (--auth entra) and reach its Microsoft Graph:
// the client secret, the authority, the endpoint's certificate, and no PAT.
// It starts the simulated Entra ID if it is not running.
func entraAppEnv(t testing.TB, sim *adosim.Server) []string {
	t.Helper()
	if sim.EntraAuthorityHost() == "" {
		if err := sim.StartEntra(""); err != nil {
			t.Fatal(err)
		}
	}
	cert := filepath.Join(t.TempDir(), "entra.pem")
	if err := os.WriteFile(cert, sim.EntraCertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	app := sim.EntraApps()[0]
	return []string{"ADO_PAT=", "MSGRAPH_URL=" + sim.MicrosoftGraphURL(), "AZURE_AUTHORITY_HOST=" + sim.EntraAuthorityHost(),
		"AZURE_TENANT_ID=" + sim.TenantID(), "AZURE_CLIENT_ID=" + app.ClientID, "AZURE_CLIENT_SECRET=" + app.Secret, "SSL_CERT_FILE=" + cert}
}
