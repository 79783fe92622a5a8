package collect

import (
	"net/http"
	"testing"
)

// Only reads are sent again after a throttled or failed answer: the POSTs
// that only ask (identity batches, subject lookups, check configuration
// queries) are, a POST that changes something is not. A 429 on the checks
// query failed a whole full sync before it was listed here.
func TestIdempotentRequests(t *testing.T) {
	for _, c := range []struct {
		method, url string
		want        bool
	}{
		{http.MethodGet, "https://dev.azure.com/o/_apis/projects", true},
		{http.MethodPost, "https://vssps.dev.azure.com/o/_apis/identitybatch", true},
		{http.MethodPost, "https://vssps.dev.azure.com/o/_apis/graph/subjectlookup", true},
		{http.MethodPost, "https://dev.azure.com/o/P/_apis/pipelines/checks/queryconfigurations", true},
		{http.MethodPost, "https://dev.azure.com/o/P/_apis/pipelines/checks/configurations", false},
		{http.MethodPost, "https://vssps.dev.azure.com/o/_apis/tokenadmin/revocations", false},
		{http.MethodPatch, "https://dev.azure.com/o/P/_apis/pipelines/pipelinepermissions/endpoint/1", false},
		{http.MethodDelete, "https://vssps.dev.azure.com/o/_apis/graph/memberships/a/b", false},
	} {
		r, err := http.NewRequest(c.method, c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := idempotent(r); got != c.want {
			t.Errorf("%s %s: sent again %v, want %v", c.method, c.url, got, c.want)
		}
	}
}
