package adosim

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
)

// simEpoch is when generated history ends in these tests (startSim's default).
var simEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// runningClock is a simulated clock that starts an hour after simEpoch and
// then follows wall time, so that what the Audit Log shows does not depend
// on the day the tests run.
func runningClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return simEpoch.Add(time.Hour + time.Since(start)) }
}

// frozenClock is a simulated clock that only /_sim/advance moves.
func frozenClock(at time.Time) func() time.Time { return func() time.Time { return at } }

func ptrTo[T any](v T) *T { return &v }

// mustClient creates a v7 area client (graph.NewClient, core.NewClient, …).
func mustClient[C any](t testing.TB, newClient func(context.Context, *azuredevops.Connection) (C, error), conn *azuredevops.Connection) C {
	t.Helper()
	c, err := newClient(context.Background(), conn)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c
}

// clientStatus is the HTTP status a v7 client error carries: the client
// returns azuredevops.WrappedError as a value for JSON bodies and as a
// pointer for empty ones. 0 means the error has no status (transport
// errors, broken bodies).
func clientStatus(err error) int {
	var v azuredevops.WrappedError
	if errors.As(err, &v) && v.StatusCode != nil {
		return *v.StatusCode
	}
	var p *azuredevops.WrappedError
	if errors.As(err, &p) && p != nil && p.StatusCode != nil {
		return *p.StatusCode
	}
	return 0
}

// wantStatus fails unless err is a v7 client error with the given status.
func wantStatus(t testing.TB, err error, status int, what string) {
	t.Helper()
	if got := clientStatus(err); got != status {
		t.Fatalf("%s: got error %v (status %d), want status %d", what, err, got, status)
	}
}

// rawRequest is one request sent with net/http, shaped like the v7
// client's: Basic auth with the PAT and the api-version in Accept.
type rawRequest struct {
	method  string
	url     string
	token   string // PAT; "" sends no Authorization
	bearer  bool   // send token as a bearer token instead
	version string // api-version; "" defaults to 7.1-preview.1, "-" sends none
	body    string
	client  *http.Client // default http.DefaultClient
}

// send performs the request and reads the whole body.
func (rq rawRequest) send(t testing.TB) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := rq.try()
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.url, err)
	}
	return resp, body
}

// try is send that returns transport and body errors instead of failing.
func (rq rawRequest) try() (*http.Response, []byte, error) {
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(method, rq.url, body)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rq.token == "":
	case rq.bearer:
		req.Header.Set("Authorization", "Bearer "+rq.token)
	default:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(":"+rq.token)))
	}
	switch rq.version {
	case "-":
		req.Header.Set("Accept", "application/json")
	case "":
		req.Header.Set("Accept", "application/json;api-version=7.1-preview.1")
	default:
		req.Header.Set("Accept", "application/json;api-version="+rq.version)
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json;charset=utf-8")
	}
	hc := rq.client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// auditLog pages through the whole Audit Log visible in the window,
// newest first, with the real v7 client.
func auditLog(t testing.TB, ac audit.Client, batch int, start, end *time.Time) []audit.DecoratedAuditLogEntry {
	t.Helper()
	var out []audit.DecoratedAuditLogEntry
	args := audit.QueryLogArgs{BatchSize: &batch}
	if start != nil {
		args.StartTime = &azuredevops.Time{Time: *start}
	}
	if end != nil {
		args.EndTime = &azuredevops.Time{Time: *end}
	}
	for page := 0; ; page++ {
		res, err := ac.QueryLog(context.Background(), args)
		if err != nil {
			t.Fatalf("query audit log page %d: %v", page, err)
		}
		if res.DecoratedAuditLogEntries != nil {
			if n := len(*res.DecoratedAuditLogEntries); n > batch {
				t.Fatalf("audit page %d has %d entries, batch size is %d", page, n, batch)
			}
			out = append(out, *res.DecoratedAuditLogEntries...)
		}
		if res.HasMore == nil || !*res.HasMore {
			return out
		}
		if res.ContinuationToken == nil || *res.ContinuationToken == "" {
			t.Fatalf("audit page %d says hasMore but has no continuation token", page)
		}
		args.ContinuationToken = res.ContinuationToken
	}
}
