package export

import (
	"time"
)

// Summary is what a packet's Summary sheet shows.
type Summary struct {
	Organization     string
	Run              int64
	RunText          string // instead of Run, for several organizations: each one's run
	SnapshotTime     time.Time
	PacketID         string
	ToolVersion      string
	Baseline         string // in words: "run 3", "packet … at …", "none"
	DormantDays      int
	PrivilegedGroups []string
	MaxPrivileged    int
	Tables           []Count           // rows per table, in packet order
	Dormant          int64             // dormant accounts
	Privileged       int64             // accounts with privileged access
	Findings         []Count           // by finding, in the order of FindingKinds
	Severity         map[string]string // of each finding
	HighFindings     int64             // findings of high severity
	Changes          []Count           // by kind, in the order of diff.Kinds
	Scope            string            // a campaign's scope: a project, or the organization level; "" for a whole packet
}

// The bulk control of the Summary sheet: a reviewer who sets the first to
// BulkKeepYes and writes their name beside the second certifies every row
// of the review sheets they left without a decision as Keep. 'exporter
// review status' and 'exporter apply' read both.
const (
	BulkKeepLabel     = "Keep every row without a decision"
	BulkReviewerLabel = "Bulk reviewer"
	BulkKeepYes       = "Yes"
	BulkKeepNo        = "No"
)

// Count is a named number.
type Count struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
}

func total(cs []Count) int64 {
	var n int64
	for _, c := range cs {
		n += c.N
	}
	return n
}
