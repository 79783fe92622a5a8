// Package diff computes what changed between two runs of the snapshot
// store, or between two exported packets: accounts, groups, group rules,
// memberships, projects, teams, team members and repositories added,
// removed or modified (each changed field, before and after), license
// changes, accounts disabled, enabled or turned dormant, and effective
// access (through nested groups) gained or lost, with the grant path. It
// never writes to the store.
//
// # Between two runs
//
// Between reads only the row versions whose valid_from or valid_to lies in
// (A, B] (both are indexed), pairs the version valid at A with the one
// valid at B by key, and compares them: the cost follows the number of
// changes, not the size of the organization. An entity re-created under
// its old key with the same content is no change; re-created under a new
// descriptor (as Azure DevOps does) it is one removal and one addition.
//
// # Effective access
//
// Effective computes the transitive closure of direct memberships at a
// run: every group an account belongs to, directly or through nested
// groups, with the shortest grant path (ties go to the account's direct
// group first in descriptor order, then to breadth-first order). A group
// already reached is not entered again, so cycles end. Each group's
// ancestors are computed once and shared by all its members.
//
// The effective diff of two runs reads both runs' membership graphs in one
// pass and recomputes effective access only for the accounts a changed
// membership can reach: those whose own memberships changed, and the
// members of every group at or below a group whose memberships changed. A
// group nested into Project Administrators thus gives access_gained for
// every one of its transitive members, each with its path.
//
// # Dormancy
//
// An account is dormant at a run when it has an entitlement and its last
// access, or for an account that never signed in its entitlement's
// creation, is at least N days (Options.DormantDays, default 90) before the
// run's snapshot time. A dormant change says the account is dormant at B
// and was not at A (or had no entitlement at A).
//
// The store keeps only the latest last access (access_dates is updated in
// place, not versioned), so a run diff judges both runs on that one value:
//
//   - Dormant at B is exact when B is the newest run, and for any B for an
//     account that has not signed in since B. One that signed in after B
//     is taken as active at B.
//   - Not dormant at A is exact when B−A ≤ N days: an account dormant at B
//     last signed in before A, so its last access at A was the same.
//   - When B−A > N days, an account that signed in between A and B and is
//     dormant at B is reported even if it was also dormant at A (it woke up
//     and went quiet again in between).
//   - Accounts that stopped being dormant are not reported: that needs
//     last-access history the store does not keep.
//
// A packet diff judges each packet on its own last_accessed column and the
// snapshot_time of its manifest.json; without both manifests it reports no
// dormancy.
//
// # Packets: the contract with export
//
// Packets diffs two packet folders with no store and no network. A packet
// holds the PacketTables, each as Name.csv or Name.parquet (the CSV is read
// when both exist), and a manifest.json whose top-level "org", "run" and
// "snapshot_time" (RFC 3339) fields are PacketInfo. Each table has a header
// row (CSV) or schema (Parquet) naming at least its Key and Compare
// columns, in any order; Carry columns may be missing, and other columns
// are ignored. A table must be in both packets or in neither; keys are
// unique within a table.
//
//	accounts          key descriptor; an account joined with its entitlement
//	                  (empty columns when it has none) and last_accessed
//	groups            key descriptor
//	group_rules       key group_descriptor
//	memberships       key group_descriptor, member_descriptor
//	projects          key id
//	teams             key id
//	team_members      key team_id, member
//	repositories      key id
//	effective_access  key group_descriptor, member_descriptor; carries
//	                  member_kind, direct, path (Grant.PathText) and
//	                  path_descriptors (Grant.Path joined by " > ")
//
// The compared columns are the store's (see PacketTables). Values are the
// store's, as text: flags 1 or 0 (true and false read as 1 and 0; Parquet
// BOOLEAN too), times RFC 3339 in UTC (Parquet TIMESTAMP too), empty for
// none ("never" reads as empty for last_accessed).
//
// CSV values are escaped for spreadsheets by safecsv.Escape: a value that
// a spreadsheet would evaluate (starting with =, +, -, @ or their
// full-width forms, also after spaces, or with a tab, CR or LF) or that
// starts with an apostrophe is written with a leading apostrophe (').
// Reading a CSV, safecsv.Unescape strips one leading apostrophe, so every
// value comes back exactly. Parquet values are never escaped.
//
// # Change order
//
// Changes come entity by entity in PacketTables order; within an entity by
// name, then key, then kind (Kinds order). Run and packet diffs of the
// same two runs give the same changes in the same order.
package diff
