package export

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
)

// Checks and approvals on pipeline resources (store table resource_checks,
// sql/migrations/0011_resource_checks.sql) and the findings about them:
// a production-looking environment, or an Azure connection, that no
// enabled Approval guards.

// ResourceChecksT is the resource_checks table of packets and the warehouse.
var ResourceChecksT = &Table{
	Name: "resource_checks",
	Doc:  "One row per check on a service connection, environment, agent queue or variable group (Approval, Business Hours, Branch control, …): whether it is enabled, and for an Approval who approves and how many must.",
	Key:  []string{"project_id", "resource_type", "resource_id", "check_id"},
	Columns: []Column{
		wide(str("project_id", "the project's id"), 38),
		wide(opt("project", "the project's name"), 20),
		str("resource_type", "endpoint (a service connection), environment, queue or variablegroup"),
		wide(str("resource_id", "the resource's id, as pipeline_permissions names it"), 38),
		wide(opt("resource_name", "the resource's name, when the store knows it"), 28),
		num("check_id", "the check configuration's id; with the resource the key"),
		str("type", "Approval, Task Check, ExclusiveLock, …"),
		wide(opt("display_name", "a task check's name: Business Hours, Branch control, …"), 20),
		flag("is_disabled", "true: the check is disabled and does not guard the resource"),
		num("timeout", "minutes the check may take"),
		wide(str("approvers", "an Approval's approvers: a JSON array of identity ids, sorted; [] for other checks"), 30),
		wide(opt("approver_names", "their names, '; '-separated, in the order of approvers"), 30),
		num("min_required_approvers", "how many approvers must approve; 0: all of them"),
		opt("created_by", "the identity id of who configured the check"),
	},
}

// Findings about checks.
const (
	FindEnvNoApproval   = "environment_without_approval"
	FindAzureNoApproval = "azure_connection_without_approval"
)

// ProdLike is the rule for a production-looking name: prod, production,
// prd or live as a word of it, in any case ("prod-eu", "Production",
// "eu-prd-1", "live"; not "preprod", "product" or "delivery").
var ProdLike = regexp.MustCompile(`(?i)(^|[^a-z])(prod|production|prd|live)([^a-z]|$)`)

func init() {
	FindingKinds = append(FindingKinds, FindEnvNoApproval, FindAzureNoApproval)
	FindingSeverity[FindEnvNoApproval] = severityMd
	FindingSeverity[FindAzureNoApproval] = severityLow
	Findings.Columns[0].Doc += ", " + FindEnvNoApproval + ", " + FindAzureNoApproval
}

// approvals loads, once, the resources an enabled Approval guards; ok is
// false when the run holds no pipeline permissions, i.e. the credential
// could not read checks either (both need Build (Read)).
func (j *job) approvals(ctx context.Context) (map[string]bool, bool, error) {
	if j.pipes.approved != nil {
		return j.pipes.approved, j.pipes.checksRead, nil
	}
	approved := map[string]bool{}
	err := j.st.Rows(ctx, "export_approved_resources", []any{sql.Named("run", j.run.ID)}, nil, func(vals []any) error {
		if vals[1] == "read" {
			j.pipes.checksRead = true
			return nil
		}
		approved[fmt.Sprintf("%v|%v|%v", vals[0], vals[1], vals[2])] = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	j.pipes.approved = approved
	return approved, j.pipes.checksRead, nil
}

// unapproved reports whether a resource has no enabled Approval, when
// checks were read at all.
func (j *job) unapproved(ctx context.Context, project, typ string, id any) (bool, error) {
	approved, read, err := j.approvals(ctx)
	if err != nil || !read {
		return false, err
	}
	return !approved[fmt.Sprintf("%v|%s|%v", project, typ, id)], nil
}

// environment names an environment row and finds a production-looking
// one without an enabled Approval.
func (j *job) environment(ctx context.Context) func(Row, map[string]any) error {
	named := j.namedResource(EnvironmentsT)
	return func(r Row, extra map[string]any) error {
		if err := named(r, extra); err != nil {
			return err
		}
		t := EnvironmentsT
		name := r[t.Index("name")].(string)
		if !ProdLike.MatchString(name) {
			return nil
		}
		missing, err := j.unapproved(ctx, r[t.Index("project_id")].(string), "environment", r[t.Index("id")])
		if err != nil || !missing {
			return err
		}
		j.find(FindEnvNoApproval, "", "", "", "", fmt.Sprintf("production-looking environment %q in project %s has no enabled Approval check",
			name, orNone(r[t.Index("project")].(string))))
		return nil
	}
}

// azureApproval finds an Azure Resource Manager connection without an
// enabled Approval in the project that owns the row.
func (j *job) azureApproval(ctx context.Context, r Row) error {
	t := ServiceConnections
	if r[t.Index("type")] != "azurerm" {
		return nil
	}
	missing, err := j.unapproved(ctx, r[t.Index("project_id")].(string), "endpoint", r[t.Index("id")])
	if err != nil || !missing {
		return err
	}
	j.find(FindAzureNoApproval, "", "", "", "", fmt.Sprintf("Azure service connection %q in project %s has no enabled Approval check",
		r[t.Index("name")], orNone(r[t.Index("project")].(string))))
	return nil
}
