package export

// The tables of a packet and of a warehouse export, in the order they are
// written. Their columns are the documented, stable schemas (SchemaVersion);
// the README lists them. Entity tables carry the store's column names, so
// that internal/diff can compare two packets offline.

// str is a string column that always has a value; opt one that may be null.
func str(name, doc string) Column  { return Column{Name: name, Type: String, Doc: doc} }
func opt(name, doc string) Column  { return Column{Name: name, Type: String, Nullable: true, Doc: doc} }
func num(name, doc string) Column  { return Column{Name: name, Type: Int64, Doc: doc} }
func flag(name, doc string) Column { return Column{Name: name, Type: Bool, Doc: doc} }
func stamp(name, doc string) Column {
	return Column{Name: name, Type: Timestamp, Nullable: true, Doc: doc}
}

func wide(c Column, width float64) Column { c.width = width; return c }

// Accounts are human users, service accounts and service principals with
// their access level and last access.
var Accounts = &Table{
	Name:   "accounts",
	Doc:    "One row per account: human users, service accounts and service principals, with access level (license), status, created, last access and the dormant flag.",
	Review: true,
	Key:    []string{"descriptor"},
	Columns: []Column{
		wide(str("descriptor", "Azure DevOps subject descriptor (aad., msa., svc., aadsp., …); the key"), 30),
		str("kind", "user, service_account or service_principal"),
		wide(str("display_name", "display name"), 28),
		wide(str("principal_name", "user principal name, or the service identity's name"), 30),
		wide(opt("mail", "mail address"), 28),
		str("subject_type", "descriptor prefix: aad, msa, svc, aadsp, …"),
		opt("meta_type", "member, guest, application, managedIdentity; null if the service gives none"),
		str("origin", "aad (Entra ID), msa (Microsoft account), vsts (Azure DevOps)"),
		opt("origin_id", "the identity's id in its origin"),
		opt("domain", "domain of the identity"),
		opt("directory_alias", "directory alias"),
		opt("application_id", "application (client) id of a service principal"),
		flag("deleted_in_origin", "true: gone from Entra ID but still in the organization"),
		wide(opt("license_display_name", "access level as the portal shows it (Basic, Stakeholder, Visual Studio Enterprise subscription, …); null without one"), 22),
		opt("account_license_type", "express (Basic), stakeholder, advanced, professional, earlyAdopter, none"),
		opt("licensing_source", "account, msdn, …"),
		opt("msdn_license_type", "Visual Studio subscription type (none: not one); null without an access level"),
		opt("assignment_source", "unknown (assigned directly) or groupRule"),
		opt("group_rule", "descriptor of the group whose rule assigned the access level"),
		opt("status", "access level status: active, disabled, pending, …; null without one"),
		stamp("date_created", "when the access level was assigned; null if unknown"),
		stamp("last_accessed", "last sign-in, the latest the store knows (not versioned by run); null: never"),
		flag("dormant", "has an access level whose last use (or, never signed in, its assignment) is --dormant-days (default 90) or more before the run's snapshot time"),
		num("direct_groups", "groups the account is a direct member of"),
	},
}

// Groups are Azure DevOps and Entra groups.
var Groups = &Table{
	Name: "groups",
	Doc:  "One row per group: Azure DevOps groups (vssgp.) and Entra groups (aadgp.), organization or project level.",
	Key:  []string{"descriptor"},
	Columns: []Column{
		wide(str("descriptor", "group descriptor; the key"), 30),
		wide(str("display_name", "display name"), 28),
		wide(str("principal_name", "[scope]\\name"), 36),
		str("subject_type", "vssgp (Azure DevOps) or aadgp (Entra ID)"),
		opt("scope_id", "project id of a project-level group; null at organization level"),
		wide(opt("project", "project name of a project-level group"), 20),
		str("origin", "vsts or aad"),
		opt("origin_id", "the group's id in its origin"),
		opt("domain", "domain"),
		opt("mail", "mail address"),
		wide(opt("description", "description"), 36),
		flag("entra_managed", "true: membership is managed in Entra ID"),
		flag("privileged", "true: one of the privileged groups (--privileged-groups)"),
		num("direct_members", "direct members (accounts and groups)"),
	},
}

// Memberships are direct memberships.
var Memberships = &Table{
	Name: "memberships",
	Doc:  "One row per direct membership: an account or group (member) in a group.",
	Key:  []string{"group_descriptor", "member_descriptor"},
	Columns: []Column{
		wide(str("group_descriptor", "the group; with member_descriptor the key"), 30),
		wide(str("group_name", "the group's principal name"), 36),
		wide(str("member_descriptor", "the member"), 30),
		wide(str("member_name", "the member's display name (groups: principal name)"), 28),
		opt("member_kind", "user, service_account, service_principal or group"),
	},
}

// GroupRules are the groups whose members get an access level.
var GroupRules = &Table{
	Name: "group_rules",
	Doc:  "One row per group rule: a group whose members get an access level.",
	Key:  []string{"group_descriptor"},
	Columns: []Column{
		wide(str("group_descriptor", "the group; the key"), 30),
		wide(opt("group_name", "its principal name"), 36),
		str("account_license_type", "access level granted"),
		str("licensing_source", "account, msdn, …"),
		opt("msdn_license_type", "Visual Studio subscription type (none: not one)"),
		wide(opt("license_display_name", "access level as the portal shows it"), 22),
		str("status", "the rule's status"),
	},
}

// EffectiveAccess is every group each account belongs to, directly or
// through nested groups, with the path that grants it. Its key and path
// columns are internal/diff's contract.
var EffectiveAccess = &Table{
	Name:   "effective_access",
	Doc:    "One row per account and group it belongs to, directly or through nested groups (cycles tolerated), with the shortest grant path.",
	Review: true,
	Key:    []string{"group_descriptor", "member_descriptor"},
	Columns: []Column{
		wide(str("group_descriptor", "the group; with member_descriptor the key"), 30),
		wide(str("group_name", "its principal name"), 36),
		wide(str("member_descriptor", "the account that has access"), 30),
		wide(str("member_name", "its display name"), 28),
		str("member_kind", "user, service_account or service_principal"),
		flag("direct", "true: a direct member; false: through nested groups"),
		num("depth", "groups on the grant path (1: direct)"),
		wide(str("path", "the grant path for people: \"direct\", or \"via A → B\" from the account's direct group to this group"), 48),
		wide(str("path_descriptors", "the grant path as group descriptors joined by \" > \""), 40),
	},
}

// PrivilegedAccess is the part of EffectiveAccess that reaches a privileged
// group.
var PrivilegedAccess = &Table{
	Name:   "privileged_access",
	Doc:    "One row per account and privileged group it belongs to, directly or nested, with the account's kind, guest status, access level, last access and dormant flag.",
	Review: true,
	Key:    []string{"group_descriptor", "member_descriptor"},
	Columns: []Column{
		wide(str("group_descriptor", "the privileged group; with member_descriptor the key"), 30),
		wide(str("group_name", "its principal name"), 36),
		wide(str("role", "its display name: Project Collection Administrators, Project Administrators, …"), 28),
		wide(opt("project", "project name of a project-level group"), 20),
		wide(str("member_descriptor", "the account"), 30),
		wide(str("member_name", "its display name"), 28),
		wide(opt("principal_name", "its principal name"), 30),
		opt("member_kind", "user, service_account or service_principal"),
		opt("meta_type", "member, guest, application, managedIdentity; null if the service gives none"),
		wide(opt("license_display_name", "access level"), 22),
		opt("status", "access level status"),
		stamp("last_accessed", "last sign-in; null: never"),
		flag("dormant", "see accounts.dormant"),
		flag("direct", "true: a direct member; false: through nested groups"),
		wide(str("path", "the grant path: \"direct\" or \"via A → B\""), 48),
	},
}

// Projects are team projects.
var Projects = &Table{
	Name: "projects",
	Doc:  "One row per project.",
	Key:  []string{"id"},
	Columns: []Column{
		wide(str("id", "project id; the key"), 38),
		wide(str("name", "name"), 24),
		wide(opt("description", "description"), 36),
		str("state", "wellFormed, …"),
		str("visibility", "private or public"),
		num("repositories", "Git repositories in the project"),
		num("teams", "teams in the project"),
	},
}

// Teams are project teams.
var Teams = &Table{
	Name: "teams",
	Doc:  "One row per team.",
	Key:  []string{"id"},
	Columns: []Column{
		wide(str("id", "team id; the key"), 38),
		wide(str("name", "name"), 24),
		wide(str("project_id", "the project's id"), 38),
		wide(opt("project", "the project's name"), 24),
		wide(opt("description", "description"), 36),
		num("members", "direct members"),
		num("admins", "team administrators"),
	},
}

// TeamMembers are the members of teams.
var TeamMembers = &Table{
	Name: "team_members",
	Doc:  "One row per team member.",
	Key:  []string{"team_id", "member"},
	Columns: []Column{
		wide(str("team_id", "the team; with member the key"), 38),
		wide(opt("team_name", "its name"), 24),
		wide(opt("project", "its project's name"), 24),
		wide(str("member", "the member's descriptor"), 30),
		wide(str("member_name", "its display name (groups: principal name)"), 28),
		opt("member_kind", "user, service_account, service_principal or group"),
		flag("is_admin", "true: a team administrator"),
	},
}

// Repositories are Git repositories.
var Repositories = &Table{
	Name: "repositories",
	Doc:  "One row per Git repository.",
	Key:  []string{"id"},
	Columns: []Column{
		wide(str("id", "repository id; the key"), 38),
		wide(str("name", "name"), 24),
		wide(str("project_id", "the project's id"), 38),
		wide(opt("project", "the project's name"), 24),
		opt("default_branch", "default branch"),
		flag("is_disabled", "true: the repository is disabled"),
	},
}

// Findings are identity controls a reviewer should look at first.
var Findings = &Table{
	Name: "findings",
	Doc:  "One row per finding: what a reviewer should look at first.",
	Columns: []Column{
		str("finding", "guest_in_privileged_group, dormant_in_privileged_group, deleted_in_origin_with_access, service_account_interactive_license, privileged_group_too_many_members, privileged_group_too_few_members, repository_privileged_permission, direct_user_permission, permission_for_unknown_identity"),
		str("severity", "high, medium or low"),
		wide(opt("subject_descriptor", "the account concerned, if any"), 30),
		wide(opt("subject_name", "its display name"), 28),
		wide(opt("group_descriptor", "the group concerned, if any"), 30),
		wide(opt("group_name", "its principal name"), 36),
		wide(str("detail", "what was found, in words"), 60),
	},
}

// Changes are the differences since a baseline, as internal/diff reports
// them.
var Changes = &Table{
	Name: "changes",
	Doc:  "One row per change since the baseline run or packet.",
	Columns: []Column{
		str("kind", "added, removed, modified, license_changed, disabled, enabled, dormant, access_gained, access_lost"),
		str("entity", "the table the change is in: accounts, groups, memberships, effective_access, …"),
		wide(str("key", "the changed row's key"), 40),
		wide(opt("subject", "the account or group concerned (a descriptor)"), 30),
		opt("subject_kind", "user, service_account, service_principal or group"),
		wide(opt("name", "a name for people: the account or group, \"group > member\" for memberships"), 28),
		wide(opt("details", "changed fields as 'field: before → after; …'"), 48),
		wide(str("fields_json", "changed fields as a JSON array of {name, before, after}"), 30),
		wide(opt("path", "for access changes, the grant path: \"direct\" or \"via A → B\""), 48),
	},
}

// AppliedDecisions are the actions 'exporter apply' journaled between the
// baseline and this run: the evidence of a review's outcome travels with
// the next packet.
var AppliedDecisions = &Table{
	Name: "applied_decisions",
	Doc:  "One row per action 'exporter apply' journaled after the baseline run started and before this run did: what was decided, where, by whom, and what happened.",
	Key:  []string{"plan_id", "seq"},
	Columns: []Column{
		str("plan_id", "the plan (a hash of its actions); with seq the key"),
		num("seq", "the action's number in the plan"),
		str("action", "grant, revoke, add-account, set-license, remove-account, revoke-pat, remove-role or close-pipelines"),
		wide(str("subject", "the account or group, by descriptor (principal name for an account being added)"), 30),
		wide(opt("subject_name", "its name"), 28),
		wide(opt("target", "the group (by descriptor) or the license"), 30),
		wide(opt("target_name", "its name"), 36),
		str("status", "done, skipped (already so), noop (managed in Entra ID), refused, failed, or started (interrupted)"),
		num("http_status", "HTTP status of the last call; 0 when none was made"),
		wide(opt("error", "why it failed, was refused, skipped or a no-op"), 40),
		wide(opt("approver", "who approved it (the packet's Reviewer, or the plan's approver)"), 28),
		opt("ticket", "the change ticket, from a plan file"),
		wide(opt("reason", "the reason (the packet's Comment, or the plan's reason)"), 30),
		wide(opt("source_file", "the decisions file"), 30),
		opt("source_sheet", "its sheet or table (null for a plan file)"),
		num("source_row", "its row, as a spreadsheet numbers it"),
		opt("packet_id", "the review packet the decision came from, if any"),
		num("packet_run", "that packet's run; 0 for a plan file"),
		stamp("started_at", "when the action was last started"),
		stamp("finished_at", "when it finished; null if interrupted"),
	},
}

// Permissions are the access control entries of the namespaces the run
// read: who is allowed or denied what, directly, on each token.
var Permissions = &Table{
	Name:   "permissions",
	Key:    []string{"namespace", "token", "identity"},
	Doc:    "One row per access control entry of the namespaces synced (Project, Git Repositories, Build, ReleaseManagement, Identity by default): an identity allowed or denied permissions on a token, as set, before inheritance and group membership.",
	Review: true,
	Columns: []Column{
		str("namespace", "security namespace: Git Repositories, Project, Build, …"),
		wide(str("token", "the secured token: repoV2/{project}/{repository}, $PROJECT:…, …; with namespace and identity the key"), 40),
		str("resource_kind", "organization, project, repository, branch, ref, pipelines, group or other"),
		wide(str("resource", "the resource for people: Project, Project/repository, Project/repository refs/heads/main, …"), 36),
		wide(opt("project", "its project's name"), 20),
		wide(opt("repository", "its repository's name"), 20),
		opt("branch", "its branch (refs/heads/…)"),
		flag("inherit", "the list's inheritPermissions: false stops what the token inherits from its parent"),
		wide(str("identity", "the identity as the entry names it (legacy identity descriptor)"), 30),
		wide(opt("subject_descriptor", "the subject it resolves to; empty when unresolved"), 30),
		wide(opt("subject_name", "its name (group principal name or account display name)"), 28),
		opt("subject_kind", "user, service_account, service_principal, group, or empty when unknown"),
		flag("known", "false: an identity not in the organization at this run (removed, or never resolved)"),
		wide(opt("allow", "permissions allowed, as the namespace names them, comma-separated"), 36),
		wide(opt("deny", "permissions denied"), 28),
		num("allow_bits", "allowed bit mask"),
		num("deny_bits", "denied bit mask"),
	},
}

// EffectivePermissions are the permissions each account has on each
// project, repository and branch, through its groups (nested) or directly.
var EffectivePermissions = &Table{
	Name:   "effective_permissions",
	Key:    []string{"subject_descriptor", "namespace", "token", "permission"},
	Doc:    "One row per account, resource and permission the account is allowed (or explicitly denied), evaluated as the service does: deny wins at one level, the most specific level decides, inheritance can be turned off, groups grant to every nested member. Every project and repository is listed, and every token with an ACL (branches, pipelines, teams). A review packet lists the privileged permissions only (those that change who can do what, bypass a control, or destroy what others rely on; export packet --all-permissions for every one); the warehouse has every one.",
	Review: true,
	Columns: []Column{
		wide(str("subject_descriptor", "the account; with namespace, token and permission the key"), 30),
		wide(str("subject_name", "its display name"), 28),
		str("subject_kind", "user, service_account or service_principal"),
		str("namespace", "security namespace"),
		str("resource_kind", "organization, project, repository, branch, ref, pipelines, group or other"),
		wide(str("resource", "the resource for people"), 36),
		wide(opt("project", "its project's name"), 20),
		wide(opt("repository", "its repository's name"), 20),
		opt("branch", "its branch"),
		wide(str("token", "the token evaluated"), 40),
		str("permission", "the permission as the namespace names it: GenericRead, GenericContribute, ForcePush, PolicyExempt, ManagePermissions, …"),
		str("decision", "allow, or deny (explicitly denied)"),
		wide(str("source_token", "the token of the entry that decides: the resource's own, or one it inherits from"), 40),
		wide(str("source_identity", "the identity of that entry (group or the account itself), by descriptor"), 30),
		wide(opt("source_name", "its name"), 28),
		wide(str("via", "how the account holds it: \"direct\" (an entry for the account itself) or \"via A → B\" from its direct group to the entry's group"), 48),
		wide(opt("via_descriptors", "the group path as descriptors joined by \" > \""), 40),
		flag("admin_override_possible", "true: denied, but the account is in Project Collection Administrators (directly or nested), whose members Microsoft documents may get a permission even when denied it in another group; the service's rule is not published (not for pipelines or work item deletion, where Microsoft says they do not); false for every allow"),
	},
}

// PacketTables are the tables of a review packet, in the order they are
// written (each may need what an earlier one found).
var PacketTables = []*Table{Accounts, Groups, GroupRules, Memberships, Projects, Teams, TeamMembers, Repositories, EffectiveAccess, PrivilegedAccess,
	Permissions, EffectivePermissions, Findings, Changes, AppliedDecisions}

// sheetOrder is the order of the workbook's sheets after Summary: what a
// reviewer looks at first comes first.
var sheetOrder = []*Table{Findings, PrivilegedAccess, Accounts, EffectiveAccess, Permissions, EffectivePermissions, Changes, AppliedDecisions,
	Groups, Memberships, GroupRules, Projects, Teams, TeamMembers, Repositories}

// TableByName finds one of PacketTables.
func TableByName(name string) *Table {
	for _, t := range PacketTables {
		if t.Name == name {
			return t
		}
	}
	return nil
}
