package adosim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Audit Log (auditservice): entries newest first within a time window,
// batchSize per page, the continuation token and hasMore in the body.
// Entries older than the retention are gone; with an audit lag an entry can
// appear after newer ones were already read.

const (
	defaultAuditBatch = 200
	maxAuditBatch     = 1000
)

func (s *Server) auditRoutes() []*route {
	h := hostAudit
	return []*route{
		newRoute(h, http.MethodGet, "_apis/audit/auditlog", "audit.auditlog", "vso.auditlog", s.queryAuditLog),
		newRoute(h, http.MethodGet, "_apis/audit/actions", "audit.actions", "vso.auditlog", s.auditActions),
	}
}

// visibleAudit returns the entries a query can see now, oldest first.
// Callers hold the lock.
func (o *Org) visibleAudit(now time.Time) []*AuditEntry {
	cutoff := now.Add(-o.retention)
	i := sort.Search(len(o.audit), func(i int) bool { return !o.audit[i].Time.Before(cutoff) })
	out := make([]*AuditEntry, 0, len(o.audit)-i)
	for _, e := range o.audit[i:] {
		if !e.VisibleAt.After(now) {
			out = append(out, e)
		}
	}
	return out
}

func parseAuditTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &time.ParseError{Value: v, Message: ": not a date"}
}

func (s *Server) queryAuditLog(c *call) {
	now := s.clock.Now()
	// Without endTime every visible entry counts, including those written
	// at this very instant (with a frozen clock, all new ones).
	start, end := time.Time{}, now.Add(time.Nanosecond)
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"startTime", &start}, {"endTime", &end}} {
		if v := c.query(p.name); v != "" {
			t, err := parseAuditTime(v)
			if err != nil {
				writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", p.name+" is not a valid date: "+v)
				return
			}
			*p.into = t
		}
	}
	batch := defaultAuditBatch
	if v := c.query("batchSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "batchSize must be a positive number.")
			return
		}
		batch = min(n, maxAuditBatch)
	}
	after := c.query("continuationToken") // id of the last entry of the previous page
	o := c.o
	o.mu.Lock() // pruning expired entries writes
	o.prune(now)
	entries := o.visibleAudit(now)
	o.mu.Unlock()

	// Newest first: walk backwards from the end of the window.
	page := []map[string]any{} // an empty page is [], not null
	hasMore := false
	resume := after == ""
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !resume {
			if e.ID == after {
				resume = true
			}
			continue
		}
		if e.Time.Before(start) {
			break
		}
		if !e.Time.Before(end) {
			continue
		}
		if len(page) == batch {
			hasMore = true
			break
		}
		page = append(page, c.o.auditJSON(e))
	}
	if !resume {
		writeError(c.w, http.StatusBadRequest, "InvalidContinuationTokenException", "The continuation token is not valid or has expired.")
		return
	}
	out := map[string]any{"decoratedAuditLogEntries": page, "hasMore": hasMore}
	if n := len(page); n > 0 {
		out["continuationToken"] = page[n-1]["id"]
	}
	writeJSON(c.w, http.StatusOK, out)
}

// prune drops entries past retention. Callers hold the write lock.
func (o *Org) prune(now time.Time) {
	cutoff := now.Add(-o.retention)
	i := sort.Search(len(o.audit), func(i int) bool { return !o.audit[i].Time.Before(cutoff) })
	if i > 0 {
		o.audit = append(o.audit[:0:0], o.audit[i:]...)
	}
}

func (o *Org) auditJSON(e *AuditEntry) map[string]any {
	m := map[string]any{
		"id": e.ID, "correlationId": e.CorrelationID, "activityId": e.CorrelationID,
		"actorCUID": e.ActorID, "actorUserId": e.ActorID, "actorClientId": "00000000-0000-0000-0000-000000000000",
		"actorUPN": e.ActorUPN, "authenticationMechanism": "PAT", "timestamp": e.Time.Format("2006-01-02T15:04:05.0000000Z07:00"),
		"scopeType": e.ScopeType, "scopeDisplayName": o.Name + " (Organization)", "scopeId": e.ScopeID,
		"projectName": e.ProjectName, "ipAddress": "10.0.0.1", "userAgent": "Mozilla/5.0",
		"actionId": e.ActionID, "data": e.Data, "details": e.Details, "area": e.Area, "category": e.Category,
		"categoryDisplayName": capitalize(e.Category), "actorDisplayName": e.ActorName, "actorImageUrl": nil,
	}
	// Microsoft's example of an organization-level entry leaves projectId
	// out rather than sending null.
	if e.ProjectID != "" {
		m["projectId"] = e.ProjectID
	}
	return m
}

// auditActionList is what GET _apis/audit/actions answers: the actions the
// simulator writes.
var auditActionList = []string{
	"Group.CreateGroups", "Group.UpdateGroupMembership.Add", "Group.UpdateGroupMembership.Remove",
	"Group.UpdateGroups.Delete", "Group.UpdateGroups.Modify",
	"Licensing.Assigned", "Licensing.Modified", "Licensing.Removed",
	"Licensing.GroupRuleCreated", "Licensing.GroupRuleModified", "Licensing.GroupRuleDeleted",
	"Project.CreateCompleted", "Project.SoftDeleteCompleted", "Project.HardDeleteCompleted", "Project.RestoreCompleted", "Project.UpdateRenameCompleted",
	"Git.RepositoryCreated", "Git.RepositoryDeleted", "Git.RepositoryRenamed",
	"Security.ModifyPermission", "Security.RemovePermission",
}

func (s *Server) auditActions(c *call) {
	area := c.query("areaName")
	var items [][]byte
	for _, a := range auditActionList {
		ar := strings.Split(a, ".")[0]
		if area != "" && !strings.EqualFold(area, ar) {
			continue
		}
		items = append(items, mustJSON(map[string]any{"actionId": a, "area": ar, "category": auditCategory(a)}))
	}
	writeList(c.w, items)
}
