package adosim

import (
	"crypto/sha1"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Security: security namespaces, access control lists and entries, and
// permission checks, on the organization URL. Every route needs
// vso.security_manage: the service has no read-only security scope.
//
// The ACLs the service creates for every project and repository are derived
// from the model when asked for (defaultACLs), never stored, so that a
// large organization costs nothing until its ACLs are read. Only changes
// made through the API are stored, in Org.aces, as overrides of the derived
// entries.
//
// Tokens form a hierarchy by the namespace's separator ("repoV2/{project}/
// {repo}" inherits from "repoV2/{project}", which inherits from "repoV2").
// Effective permissions follow the docs (about-permissions, "Permission
// inheritance"): along the token hierarchy the most specific explicit
// setting wins, so an explicit allow on a repository overrides a deny
// inherited from its project; within one entry, and across the groups a
// caller belongs to (HasPermissions), deny wins over allow.

// aclKey names one access control list: a namespace id and a token,
// lower-cased because security tokens are case-insensitive.
type aclKey struct{ namespace, token string }

// ace is an access control entry set through the API: the entry's state
// after the change, or a tombstone that hides a derived default entry.
type ace struct {
	token       string // as the caller wrote it
	descriptor  string // legacy identity descriptor
	allow, deny int
	removed     bool
}

// secAction is one permission bit of a namespace.
type secAction struct {
	bit           int
	name, display string
}

// securityNamespace describes a namespace as GET securitynamespaces does.
// Ids, names, separators and action bits are the service's (security/7.1
// examples, the namespace reference in the Azure DevOps docs); read/write
// permissions, dataspace and flags are from the examples where they show
// the namespace, best guesses otherwise.
type securityNamespace struct {
	id, name, separator string
	read, write         int
	dataspace           string
	extension           string // "" answers null
	remotable           bool
	translator          bool
	actions             []secAction
	// defaults adds the entries the service creates on its own.
	defaults func(v *aclView)
}

// bits returns the mask of the named actions; an unknown name is a bug in
// the default tables and panics.
func (ns *securityNamespace) bits(names ...string) int {
	m := 0
	for _, n := range names {
		i := slices.IndexFunc(ns.actions, func(a secAction) bool { return a.name == n })
		if i < 0 {
			panic("security namespace " + ns.name + " has no action " + n)
		}
		m |= ns.actions[i].bit
	}
	return m
}

// all is the mask of every action of the namespace.
func (ns *securityNamespace) all() int {
	m := 0
	for _, a := range ns.actions {
		m |= a.bit
	}
	return m
}

// names lists the display names of the actions in mask.
func (ns *securityNamespace) names(mask int) string {
	var out []string
	for _, a := range ns.actions {
		if mask&a.bit != 0 {
			out = append(out, a.display)
		}
	}
	return strings.Join(out, ", ")
}

// Well-known namespace ids.
const (
	nsProject     = "52d39943-cb85-4d7f-8fa8-c6baac873819"
	nsGit         = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87"
	nsBuild       = "33344d9c-fc72-4d6f-aba5-fa317101a7e9"
	nsRelease     = "c788c23e-1b46-4162-8f5e-d7585343b5de"
	nsIdentity    = "5a27515b-ccd7-42c9-84f1-54c998f03866"
	nsCSS         = "83e28ad4-2d72-4ceb-97b0-c7726d5502c3"
	nsIteration   = "bf7bfa03-b2b7-47db-8113-fa2e002cc5b1"
	nsEndpoints   = "49b48001-ca20-4adc-8111-5b60c903a50c"
	nsCollection  = "3e65f728-f8bc-4ecd-8764-7e378b19bfa7"
	projectPrefix = "$PROJECT:vstfs:///Classification/TeamProject/"
)

var securityNamespaces = []*securityNamespace{
	{
		id: nsProject, name: "Project", separator: ":", read: 1, write: 2, dataspace: "Default", remotable: true,
		actions: []secAction{
			{1, "GENERIC_READ", "View project-level information"},
			{2, "GENERIC_WRITE", "Edit project-level information"},
			{4, "DELETE", "Delete team project"},
			{8, "PUBLISH_TEST_RESULTS", "Create test runs"},
			{16, "ADMINISTER_BUILD", "Administer a build"},
			{32, "START_BUILD", "Start a build"},
			{64, "EDIT_BUILD_STATUS", "Edit build quality"},
			{128, "UPDATE_BUILD", "Write to build operational store"},
			{256, "DELETE_TEST_RESULTS", "Delete test runs"},
			{512, "VIEW_TEST_RESULTS", "View test runs"},
			{2048, "MANAGE_TEST_ENVIRONMENTS", "Manage test environments"},
			{4096, "MANAGE_TEST_CONFIGURATIONS", "Manage test configurations"},
			{8192, "WORK_ITEM_DELETE", "Delete and restore work items"},
			{16384, "WORK_ITEM_MOVE", "Move work items out of this project"},
			{32768, "WORK_ITEM_PERMANENTLY_DELETE", "Permanently delete work items"},
			{65536, "RENAME", "Rename team project"},
			{131072, "MANAGE_PROPERTIES", "Manage project properties"},
			{262144, "MANAGE_SYSTEM_PROPERTIES", "Manage system project properties"},
			{524288, "BYPASS_PROPERTY_CACHE", "Bypass project property cache"},
			{1048576, "BYPASS_RULES", "Bypass rules on work item updates"},
			{2097152, "SUPPRESS_NOTIFICATIONS", "Suppress notifications for work item updates"},
			{4194304, "UPDATE_VISIBILITY", "Update project visibility"},
			{8388608, "CHANGE_PROCESS", "Change process of team project."},
			{16777216, "AGILETOOLS_BACKLOG", "Agile backlog management."},
			{33554432, "AGILETOOLS_PLANS", "Agile plans."},
		},
		defaults: projectDefaults,
	},
	{
		id: nsGit, name: "Git Repositories", separator: "/", read: 2, write: 8192, dataspace: "Git", remotable: true,
		actions: []secAction{
			{1, "Administer", "Administer"},
			{2, "GenericRead", "Read"},
			{4, "GenericContribute", "Contribute"},
			{8, "ForcePush", "Force push (rewrite history and delete branches)"},
			{16, "CreateBranch", "Create branch"},
			{32, "CreateTag", "Create tag"},
			{64, "ManageNote", "Manage notes"},
			{128, "PolicyExempt", "Bypass policies when pushing"},
			{256, "CreateRepository", "Create repository"},
			{512, "DeleteRepository", "Delete repository"},
			{1024, "RenameRepository", "Rename repository"},
			{2048, "EditPolicies", "Edit policies"},
			{4096, "RemoveOthersLocks", "Remove others' locks"},
			{8192, "ManagePermissions", "Manage permissions"},
			{16384, "PullRequestContribute", "Contribute to pull requests"},
			{32768, "PullRequestBypassPolicy", "Bypass policies when completing pull requests"},
			{65536, "ViewAdvSecAlerts", "Advanced Security: view alerts"},
			{131072, "DismissAdvSecAlerts", "Advanced Security: manage and dismiss alerts"},
			{262144, "ManageAdvSecScanning", "Advanced Security: manage settings"},
		},
		defaults: gitDefaults,
	},
	{
		id: nsBuild, name: "Build", separator: "/", read: 1, write: 16384, dataspace: "Build", remotable: true, translator: true,
		actions: []secAction{
			{1, "ViewBuilds", "View builds"},
			{2, "EditBuildQuality", "Edit build quality"},
			{4, "RetainIndefinitely", "Retain indefinitely"},
			{8, "DeleteBuilds", "Delete builds"},
			{16, "ManageBuildQualities", "Manage build qualities"},
			{32, "DestroyBuilds", "Destroy builds"},
			{64, "UpdateBuildInformation", "Update build information"},
			{128, "QueueBuilds", "Queue builds"},
			{256, "ManageBuildQueue", "Manage build queue"},
			{512, "StopBuilds", "Stop builds"},
			{1024, "ViewBuildDefinition", "View build definition"},
			{2048, "EditBuildDefinition", "Edit build definition"},
			{4096, "DeleteBuildDefinition", "Delete build definition"},
			{8192, "OverrideBuildCheckInValidation", "Override check-in validation by build"},
			{16384, "AdministerBuildPermissions", "Administer build permissions"},
		},
		defaults: buildDefaults,
	},
	{
		id: nsRelease, name: "ReleaseManagement", separator: "/", read: 1, write: 512, dataspace: "ReleaseManagement", remotable: true, translator: true,
		actions: []secAction{
			{1, "ViewReleaseDefinition", "View release definition"},
			{2, "EditReleaseDefinition", "Edit release definition"},
			{4, "DeleteReleaseDefinition", "Delete release definition"},
			{8, "ManageReleaseApprovers", "Manage release approvers"},
			{16, "ManageReleases", "Manage releases"},
			{32, "ViewReleases", "View releases"},
			{64, "CreateReleases", "Create releases"},
			{128, "EditReleaseEnvironment", "Edit release environment"},
			{256, "DeleteReleaseEnvironment", "Delete release environment"},
			{512, "AdministerReleasePermissions", "Administer release permissions"},
			{1024, "DeleteReleases", "Delete releases"},
			{2048, "ManageDeployments", "Manage deployments"},
			{4096, "ManageReleaseSettings", "Manage release settings"},
			{8192, "ManageTaskHubExtension", "Manage TaskHub extension"},
		},
		defaults: releaseDefaults,
	},
	{
		id: nsIdentity, name: "Identity", separator: `\`, read: 1, write: 4, dataspace: "Default",
		extension: "Microsoft.TeamFoundation.Framework.Server.IdentitySecurityNamespaceExtension",
		actions: []secAction{
			{1, "Read", "View identity information"},
			{2, "Write", "Edit identity information"},
			{4, "Delete", "Delete identity information"},
			{8, "ManageMembership", "Manage group membership"},
			{16, "CreateScope", "Create identity scopes"},
		},
		defaults: identityDefaults,
	},
	{
		id: nsCSS, name: "CSS", separator: ":", read: 1, write: 2, dataspace: "Default", translator: true,
		actions: []secAction{
			{1, "GENERIC_READ", "View permissions for this node"},
			{2, "GENERIC_WRITE", "Edit this node"},
			{4, "CREATE_CHILDREN", "Create child nodes"},
			{8, "DELETE", "Delete this node"},
			{16, "WORK_ITEM_READ", "View work items in this node"},
			{32, "WORK_ITEM_WRITE", "Edit work items in this node"},
			{64, "MANAGE_TEST_PLANS", "Manage test plans"},
			{128, "MANAGE_TEST_SUITES", "Manage test suites"},
		},
		defaults: areaDefaults,
	},
	{
		id: nsIteration, name: "Iteration", separator: ":", read: 1, write: 2, dataspace: "Default", translator: true,
		actions: []secAction{
			{1, "GENERIC_READ", "View permissions for this node"},
			{2, "GENERIC_WRITE", "Edit this node"},
			{4, "CREATE_CHILDREN", "Create child nodes"},
			{8, "DELETE", "Delete this node"},
		},
		defaults: iterationDefaults,
	},
	{
		id: nsEndpoints, name: "ServiceEndpoints", separator: "/", read: 0, write: 2, dataspace: "Default", translator: true,
		actions: []secAction{
			{1, "Use", "Use Endpoint"},
			{2, "Administer", "Administer Endpoint"},
			{4, "Create", "Create Endpoint"},
			{8, "ViewAuthorization", "View Authorization"},
			{16, "ViewEndpoint", "View Endpoint"},
		},
		defaults: endpointDefaults,
	},
	{
		id: nsCollection, name: "Collection", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: []secAction{
			{1, "GENERIC_READ", "View instance-level information"},
			{2, "GENERIC_WRITE", "Edit instance-level information"},
			{4, "CREATE_PROJECTS", "Create new projects"},
			{8, "TRIGGER_EVENT", "Trigger events"},
			{16, "MANAGE_TEMPLATE", "Manage process template"},
			{32, "DIAGNOSTIC_TRACE", "Alter trace settings"},
			{64, "SYNCHRONIZE_READ", "View system synchronization information"},
			{128, "MANAGE_TEST_CONTROLLERS", "Manage test controllers"},
			{256, "DELETE_FIELD", "Delete field from organization"},
			{512, "MANAGE_ENTERPRISE_POLICIES", "Manage enterprise policies"},
		},
		defaults: collectionDefaults,
	},
}

// namespaceByID finds a namespace by id, case-insensitively.
func namespaceByID(id string) *securityNamespace {
	for _, ns := range securityNamespaces {
		if strings.EqualFold(ns.id, id) {
			return ns
		}
	}
	return nil
}

// The default entries, per namespace: what a new organization and each new
// project get (the permissions reference and the default-permissions pages
// of the docs; bits a group gets are the service's defaults where the docs
// list them, and a close reading of the portal otherwise). PCA is Project
// Collection Administrators; the project's build service is the
// "{project} Build Service ({org})" identity.

func projectDefaults(v *aclView) {
	ns, o := v.ns, v.o
	v.grant("$PROJECT", o.pca, ns.all())
	contributor := ns.bits("GENERIC_READ", "PUBLISH_TEST_RESULTS", "DELETE_TEST_RESULTS", "VIEW_TEST_RESULTS",
		"MANAGE_TEST_ENVIRONMENTS", "MANAGE_TEST_CONFIGURATIONS", "WORK_ITEM_DELETE")
	for _, p := range v.projects() {
		t := projectPrefix + p.ID
		v.grant(t, v.group(p, "Project Administrators"), ns.all()&^ns.bits("MANAGE_SYSTEM_PROPERTIES", "BYPASS_PROPERTY_CACHE"))
		v.grant(t, v.group(p, "Contributors"), contributor)
		v.grant(t, v.group(p, "Build Administrators"), contributor&^ns.bits("WORK_ITEM_DELETE"))
		v.grant(t, v.group(p, "Readers"), ns.bits("GENERIC_READ", "VIEW_TEST_RESULTS"))
		v.grant(t, v.group(p, "Project Valid Users"), ns.bits("GENERIC_READ"))
		v.grant(t, v.group(p, "Release Administrators"), ns.bits("GENERIC_READ", "VIEW_TEST_RESULTS"))
		v.grant(t, v.buildService(p), ns.bits("GENERIC_READ", "PUBLISH_TEST_RESULTS", "DELETE_TEST_RESULTS", "VIEW_TEST_RESULTS"))
	}
}

func gitDefaults(v *aclView) {
	ns, o := v.ns, v.o
	admin := ns.all() &^ ns.bits("Administer", "PolicyExempt", "PullRequestBypassPolicy", "DismissAdvSecAlerts", "ManageAdvSecScanning")
	builder := ns.bits("GenericRead", "CreateBranch", "CreateTag", "ManageNote", "PullRequestContribute")
	v.grant("repoV2", o.pca, admin)
	v.grant("repoV2", o.pcbsa, builder)
	for _, p := range v.projects() {
		t := "repoV2/" + p.ID
		v.grant(t, v.group(p, "Project Administrators"), admin)
		v.grant(t, v.group(p, "Contributors"), builder|ns.bits("GenericContribute", "CreateRepository"))
		v.grant(t, v.group(p, "Build Administrators"), builder|ns.bits("GenericContribute"))
		v.grant(t, v.group(p, "Readers"), ns.bits("GenericRead"))
		v.grant(t, v.buildService(p), builder)
		for _, r := range v.repos[p.ID] {
			v.token(t + "/" + r.ID) // no entries of its own: it inherits
		}
	}
}

func buildDefaults(v *aclView) {
	ns, o := v.ns, v.o
	view := ns.bits("ViewBuilds", "ViewBuildDefinition")
	for _, p := range v.projects() {
		t := p.ID
		v.grant(t, o.pca, ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.all())
		v.grant(t, v.group(p, "Build Administrators"), ns.all()&^ns.bits("OverrideBuildCheckInValidation"))
		v.grant(t, v.group(p, "Contributors"), view|ns.bits("RetainIndefinitely", "DeleteBuilds", "QueueBuilds", "StopBuilds", "EditBuildDefinition"))
		v.grant(t, v.group(p, "Readers"), view)
		v.grant(t, v.buildService(p), view|ns.bits("UpdateBuildInformation", "QueueBuilds"))
	}
}

func releaseDefaults(v *aclView) {
	ns, o := v.ns, v.o
	for _, p := range v.projects() {
		t := p.ID
		v.grant(t, o.pca, ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.all())
		v.grant(t, v.group(p, "Release Administrators"), ns.all())
		v.grant(t, v.group(p, "Contributors"), ns.bits("ViewReleaseDefinition", "EditReleaseDefinition", "DeleteReleaseDefinition",
			"ManageReleases", "ViewReleases", "CreateReleases", "EditReleaseEnvironment", "DeleteReleaseEnvironment", "DeleteReleases", "ManageDeployments"))
		v.grant(t, v.group(p, "Readers"), ns.bits("ViewReleaseDefinition", "ViewReleases"))
	}
}

// identityDefaults: a project's groups inherit from the project token; a
// team's administrators hold every bit on the team's group, which is how
// the service stores team administration (the portal and Terraform's
// azuredevops_team read it back from here).
func identityDefaults(v *aclView) {
	ns, o := v.ns, v.o
	read := ns.bits("Read")
	for _, p := range v.projects() {
		t := p.ID
		v.grant(t, o.pca, ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.bits("Read", "Write", "Delete", "ManageMembership"))
		v.grant(t, v.group(p, "Contributors"), read)
		v.grant(t, v.group(p, "Readers"), read)
		v.grant(t, v.group(p, "Project Valid Users"), read)
		for _, team := range v.teams[p.ID] {
			tt := t + `\` + team.ID
			for _, seq := range sortedSeqs(team.Admins) {
				v.grant(tt, o.subjects[seq], ns.all())
			}
		}
	}
}

func areaDefaults(v *aclView) {
	ns, o := v.ns, v.o
	view := ns.bits("GENERIC_READ", "WORK_ITEM_READ")
	for _, p := range v.projects() {
		t := "vstfs:///Classification/Node/" + classificationNodeID("area", p.ID)
		v.grant(t, o.pca, ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.all())
		v.grant(t, v.group(p, "Contributors"), view|ns.bits("WORK_ITEM_WRITE", "MANAGE_TEST_PLANS", "MANAGE_TEST_SUITES"))
		v.grant(t, v.group(p, "Build Administrators"), view)
		v.grant(t, v.group(p, "Readers"), view)
		v.grant(t, v.buildService(p), view|ns.bits("WORK_ITEM_WRITE"))
	}
}

func iterationDefaults(v *aclView) {
	ns, o := v.ns, v.o
	read := ns.bits("GENERIC_READ")
	for _, p := range v.projects() {
		t := "vstfs:///Classification/Node/" + classificationNodeID("iteration", p.ID)
		v.grant(t, o.pca, ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.all())
		v.grant(t, v.group(p, "Contributors"), read)
		v.grant(t, v.group(p, "Build Administrators"), read)
		v.grant(t, v.group(p, "Readers"), read)
		v.grant(t, v.buildService(p), read)
	}
}

// endpointDefaults follows the service-connection roles of the docs:
// Administrator to Endpoint Administrators, Creator to Endpoint Creators,
// Reader to Project Valid Users and the collection's build service accounts.
func endpointDefaults(v *aclView) {
	ns, o := v.ns, v.o
	reader := ns.bits("ViewEndpoint")
	v.grant("endpoints/Collection", o.pca, ns.all())
	for _, p := range v.projects() {
		t := "endpoints/" + p.ID
		v.grant(t, v.group(p, "Endpoint Administrators"), ns.all())
		v.grant(t, v.group(p, "Project Administrators"), ns.all())
		v.grant(t, v.group(p, "Endpoint Creators"), reader|ns.bits("Use", "Create"))
		v.grant(t, v.group(p, "Project Valid Users"), reader)
		v.grant(t, o.pcbsa, reader)
	}
}

func collectionDefaults(v *aclView) {
	ns, o := v.ns, v.o
	v.grant("NAMESPACE", o.pca, ns.all())
	v.grant("NAMESPACE", o.pcsa, ns.all())
	v.grant("NAMESPACE", o.pcvu, ns.bits("GENERIC_READ"))
	v.grant("NAMESPACE", o.pcbsa, ns.bits("GENERIC_READ"))
}

// classificationNodeID is a stable id for a project's root area or
// iteration node. The simulator serves no work item tracking API, so
// nothing else names these nodes; the ids only need to be stable.
func classificationNodeID(kind, projectID string) string {
	h := sha1.Sum([]byte(kind + ":" + projectID))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func sortedSeqs(set map[int32]bool) []int32 {
	out := make([]int32, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// acl is one access control list of a view.
type acl struct {
	token string
	aces  []ace
}

func (a *acl) find(descriptor string) int {
	return slices.IndexFunc(a.aces, func(e ace) bool { return strings.EqualFold(e.descriptor, descriptor) })
}

// aclView is one namespace's ACLs as the service holds them right now: the
// derived defaults with the API's changes applied. It is built per request
// under the read lock and is not kept.
type aclView struct {
	o      *Org
	ns     *securityNamespace
	order  []string        // lower-case tokens, in listing order
	acls   map[string]*acl // by lower-case token
	builds map[string]*Subject
	repos  map[string][]*Repo
	teams  map[string][]*Team
	memo   map[[2]string][2]int
}

// aclView builds the view of one namespace. Callers hold the lock.
func (o *Org) aclView(ns *securityNamespace) *aclView {
	v := &aclView{o: o, ns: ns, acls: map[string]*acl{}, memo: map[[2]string][2]int{},
		builds: map[string]*Subject{}, repos: map[string][]*Repo{}, teams: map[string][]*Team{}}
	for project, s := range o.buildService {
		if !s.Deleted {
			v.builds[project] = s
		}
	}
	for _, r := range o.repos {
		if !r.Deleted {
			v.repos[r.ProjectID] = append(v.repos[r.ProjectID], r)
		}
	}
	for _, t := range o.teams {
		if !t.Deleted {
			v.teams[t.ProjectID] = append(v.teams[t.ProjectID], t)
		}
	}
	ns.defaults(v)
	var changed []aclKey
	for k := range o.aces {
		if k.namespace == ns.id {
			changed = append(changed, k)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].token < changed[j].token })
	for _, k := range changed {
		for _, e := range o.aces[k] {
			v.put(e)
		}
	}
	return v
}

func (v *aclView) projects() []*Project {
	var out []*Project
	for _, p := range v.o.projects {
		if !p.Deleted {
			out = append(out, p)
		}
	}
	return out
}

func (v *aclView) group(p *Project, name string) *Subject { return v.o.projectGroup(p, name) }

func (v *aclView) buildService(p *Project) *Subject { return v.builds[p.ID] }

// token returns the ACL of a token, creating an empty one.
func (v *aclView) token(t string) *acl {
	k := strings.ToLower(t)
	a := v.acls[k]
	if a == nil {
		a = &acl{token: t}
		v.acls[k] = a
		v.order = append(v.order, k)
	}
	return a
}

// grant adds a default entry; a missing identity (a project without a
// Release Administrators group) adds nothing.
func (v *aclView) grant(token string, who *Subject, allow int) {
	if who == nil || who.Deleted || allow == 0 {
		return
	}
	a := v.token(token)
	if i := a.find(who.Legacy); i >= 0 {
		a.aces[i].allow |= allow
		return
	}
	a.aces = append(a.aces, ace{token: token, descriptor: who.Legacy, allow: allow})
}

// put applies a stored change: it replaces the entry, or removes it.
func (v *aclView) put(e ace) {
	a := v.token(e.token)
	i := a.find(e.descriptor)
	switch {
	case e.removed && i >= 0:
		a.aces = slices.Delete(a.aces, i, i+1)
	case e.removed:
	case i >= 0:
		a.aces[i] = e
	default:
		a.aces = append(a.aces, e)
	}
}

// explicit is the entry a descriptor has on a token, zero when none.
func (v *aclView) explicit(token, descriptor string) (allow, deny int) {
	if a := v.acls[strings.ToLower(token)]; a != nil {
		if i := a.find(descriptor); i >= 0 {
			return a.aces[i].allow, a.aces[i].deny
		}
	}
	return 0, 0
}

// parent is the token one level up, by the namespace's separator.
func (v *aclView) parent(token string) (string, bool) {
	sep := v.ns.separator
	if sep == "" {
		return "", false
	}
	i := strings.LastIndex(token, sep)
	if i <= 0 {
		return "", false
	}
	return token[:i], true
}

// inherited is what a descriptor gets on a token from its ancestors.
func (v *aclView) inherited(token, descriptor string) (allow, deny int) {
	if p, ok := v.parent(token); ok {
		return v.effective(p, descriptor)
	}
	return 0, 0
}

// effective combines a descriptor's entry on a token with what it
// inherits: an explicit bit overrides an inherited one; within the entry,
// deny wins.
func (v *aclView) effective(token, descriptor string) (allow, deny int) {
	key := [2]string{strings.ToLower(token), strings.ToLower(descriptor)}
	if r, ok := v.memo[key]; ok {
		return r[0], r[1]
	}
	a, d := v.explicit(token, descriptor)
	ia, id := v.inherited(token, descriptor)
	set := a | d
	allow, deny = (a&^d)|(ia&^set), d|(id&^set)
	v.memo[key] = [2]int{allow, deny}
	return allow, deny
}

// descriptorsAbove lists the descriptors with entries on the ancestors of a
// token: the identities that inherit something there.
func (v *aclView) descriptorsAbove(token string) []string {
	var out []string
	for t, ok := v.parent(token); ok; t, ok = v.parent(t) {
		if a := v.acls[strings.ToLower(t)]; a != nil {
			for _, e := range a.aces {
				if !slices.ContainsFunc(out, func(d string) bool { return strings.EqualFold(d, e.descriptor) }) {
					out = append(out, e.descriptor)
				}
			}
		}
	}
	return out
}

// Wire shapes of security.AccessControlList and AccessControlEntry.
type aclJSON struct {
	InheritPermissions  bool               `json:"inheritPermissions"`
	Token               string             `json:"token"`
	AcesDictionary      map[string]aceJSON `json:"acesDictionary"`
	IncludeExtendedInfo bool               `json:"includeExtendedInfo,omitempty"`
}

type aceJSON struct {
	Descriptor   string       `json:"descriptor"`
	Allow        int          `json:"allow"`
	Deny         int          `json:"deny"`
	ExtendedInfo *aceExtended `json:"extendedInfo,omitempty"`
}

// aceExtended leaves zero masks out, as the service does.
type aceExtended struct {
	EffectiveAllow int `json:"effectiveAllow,omitempty"`
	EffectiveDeny  int `json:"effectiveDeny,omitempty"`
	InheritedAllow int `json:"inheritedAllow,omitempty"`
	InheritedDeny  int `json:"inheritedDeny,omitempty"`
}

// render answers one token's ACL, or false when there is nothing to show:
// a token holds an ACL when it has entries of its own; with extended info
// asked for, a requested token also shows what it inherits. A descriptor
// filter shows an entry (zero when absent) for each descriptor asked for,
// on every ACL listed, as in the service's example.
func (v *aclView) render(token string, requested bool, descriptors []string, extended bool) (aclJSON, bool) {
	a := v.acls[strings.ToLower(token)]
	var shown []string
	if a != nil {
		token = a.token
		for _, e := range a.aces {
			if e.allow != 0 || e.deny != 0 {
				shown = append(shown, e.descriptor)
			}
		}
	}
	if extended && requested {
		for _, d := range v.descriptorsAbove(token) {
			if !slices.ContainsFunc(shown, func(s string) bool { return strings.EqualFold(s, d) }) {
				shown = append(shown, d)
			}
		}
	}
	if len(shown) == 0 {
		return aclJSON{}, false
	}
	if descriptors != nil {
		shown = descriptors
	}
	out := aclJSON{InheritPermissions: true, Token: token, AcesDictionary: map[string]aceJSON{}, IncludeExtendedInfo: extended}
	for _, d := range shown {
		allow, deny := v.explicit(token, d)
		e := aceJSON{Descriptor: d, Allow: allow, Deny: deny}
		if extended {
			ea, ed := v.effective(token, d)
			ia, id := v.inherited(token, d)
			set := allow | deny
			e.ExtendedInfo = &aceExtended{EffectiveAllow: ea, EffectiveDeny: ed, InheritedAllow: ia &^ set, InheritedDeny: id &^ set}
		}
		out.AcesDictionary[d] = e
	}
	return out, true
}

// descendants lists the tokens below token that hold ACLs, in listing order.
func (v *aclView) descendants(token string) []string {
	if v.ns.separator == "" {
		return nil
	}
	prefix := strings.ToLower(token) + strings.ToLower(v.ns.separator)
	var out []string
	for _, k := range v.order {
		if strings.HasPrefix(k, prefix) {
			out = append(out, v.acls[k].token)
		}
	}
	return out
}

func (s *Server) securityRoutes() []*route {
	const w = "vso.security_manage"
	h := hostOrg
	return []*route{
		newRoute(h, http.MethodGet, "_apis/securitynamespaces", "security.namespaces", w, s.querySecurityNamespaces),
		newRoute(h, http.MethodGet, "_apis/securitynamespaces/{ns}", "security.namespaces", w, s.querySecurityNamespaces),
		newRoute(h, http.MethodGet, "_apis/accesscontrollists/{ns}", "security.acls.query", w, s.queryAccessControlLists),
		newRoute(h, http.MethodPost, "_apis/accesscontrolentries/{ns}", "security.aces.set", w, s.setAccessControlEntries),
		newRoute(h, http.MethodDelete, "_apis/accesscontrolentries/{ns}", "security.aces.remove", w, s.removeAccessControlEntries),
		newRoute(h, http.MethodGet, "_apis/permissions/{ns}/{permissions}", "security.permissions.has", w, s.hasPermissions),
	}
}

// namespaceJSON is the wire shape of SecurityNamespaceDescription, fields
// in the order of the service's example.
type namespaceJSON struct {
	NamespaceID        string       `json:"namespaceId"`
	Name               string       `json:"name"`
	DisplayName        string       `json:"displayName"`
	SeparatorValue     string       `json:"separatorValue"`
	ElementLength      int          `json:"elementLength"`
	WritePermission    int          `json:"writePermission"`
	ReadPermission     int          `json:"readPermission"`
	DataspaceCategory  string       `json:"dataspaceCategory"`
	Actions            []actionJSON `json:"actions"`
	StructureValue     int          `json:"structureValue"`
	ExtensionType      *string      `json:"extensionType"`
	IsRemotable        bool         `json:"isRemotable"`
	UseTokenTranslator bool         `json:"useTokenTranslator"`
}

type actionJSON struct {
	Bit         int    `json:"bit"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	NamespaceID string `json:"namespaceId"`
}

func (ns *securityNamespace) json() namespaceJSON {
	out := namespaceJSON{
		NamespaceID: ns.id, Name: ns.name, DisplayName: ns.name,
		SeparatorValue: ns.separator, ElementLength: -1,
		WritePermission: ns.write, ReadPermission: ns.read, DataspaceCategory: ns.dataspace,
		StructureValue: 1, IsRemotable: ns.remotable, UseTokenTranslator: ns.translator,
	}
	if ns.extension != "" {
		out.ExtensionType = &ns.extension
	}
	for _, a := range ns.actions {
		out.Actions = append(out.Actions, actionJSON{a.bit, a.name, a.display, ns.id})
	}
	return out
}

// querySecurityNamespaces lists every namespace, or one. An unknown id
// answers an empty list; the empty GUID means all, as in the .NET client.
func (s *Server) querySecurityNamespaces(c *call) {
	id := c.param("ns")
	var items [][]byte
	for _, ns := range securityNamespaces {
		if id == "" || id == uuid.Nil.String() || strings.EqualFold(id, ns.id) {
			items = append(items, mustJSON(ns.json()))
		}
	}
	writeList(c.w, items)
}

// namespace resolves {ns} or writes the 404.
func (c *call) namespace() *securityNamespace {
	if ns := namespaceByID(c.param("ns")); ns != nil {
		return ns
	}
	writeError(c.w, http.StatusNotFound, "InvalidSecurityNamespaceException", "The security namespace "+c.param("ns")+" does not exist.")
	return nil
}

// boolQuery reads a boolean query parameter ("True", "false", …).
func (c *call) boolQuery(name string) bool {
	b, _ := strconv.ParseBool(c.query(name))
	return b
}

// queryAccessControlLists answers the ACLs of a token (and with recurse its
// descendants), or of the whole namespace when no token is given.
func (s *Server) queryAccessControlLists(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	token := c.query("token")
	descriptors := splitList(c.query("descriptors"))
	extended := c.boolQuery("includeExtendedInfo")
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	v := o.aclView(ns)
	var items [][]byte
	add := func(t string, requested bool) {
		if a, ok := v.render(t, requested, descriptors, extended); ok {
			items = append(items, mustJSON(a))
		}
	}
	if token == "" {
		for _, k := range v.order {
			add(v.acls[k].token, false)
		}
	} else {
		add(token, true)
		if c.boolQuery("recurse") {
			for _, t := range v.descendants(token) {
				add(t, false)
			}
		}
	}
	writeList(c.w, items)
}

// aceInput is one entry of a set request.
type aceInput struct {
	Descriptor string `json:"descriptor"`
	Allow      int    `json:"allow"`
	Deny       int    `json:"deny"`
}

func (s *Server) setAccessControlEntries(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	var body struct {
		Token                string     `json:"token"`
		Merge                bool       `json:"merge"`
		AccessControlEntries []aceInput `json:"accessControlEntries"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	set, err := o.SetAccessControlEntries(o.admin, ns, body.Token, body.Merge, body.AccessControlEntries)
	if err != nil {
		c.fail(err)
		return
	}
	items := make([][]byte, len(set))
	for i, e := range set {
		items[i] = mustJSON(map[string]any{"descriptor": e.descriptor, "allow": e.allow, "deny": e.deny, "extendedInfo": map[string]any{}})
	}
	writeList(c.w, items)
}

// removeAccessControlEntries answers true when an entry was removed, false
// when none of the descriptors had one (the service's boolean).
func (s *Server) removeAccessControlEntries(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	removed, err := o.RemoveAccessControlEntries(o.admin, ns, c.query("token"), splitList(c.query("descriptors")))
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, http.StatusOK, removed)
}

// hasPermissions evaluates permissions for the caller. Every credential of
// the simulator acts as the organization's administrator, so the caller is
// o.admin with the groups it belongs to, transitively.
func (s *Server) hasPermissions(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	perms, err := strconv.Atoi(c.param("permissions"))
	if err != nil || perms < 0 {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "permissions must be a non-negative number, got "+c.param("permissions"))
		return
	}
	delim := c.query("delimiter")
	if delim == "" {
		delim = ","
	}
	tokens := []string{c.query("token")}
	if v := c.query("tokens"); v != "" {
		tokens = strings.Split(v, delim)
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var caller []*Subject
	if o.admin != nil && !o.admin.Deleted {
		caller = append([]*Subject{o.admin}, o.expand(o.admin, false)...)
	}
	isAdmin := slices.Contains(caller, o.pca)
	alwaysAdmin := c.boolQuery("alwaysAllowAdministrators")
	v := o.aclView(ns)
	items := make([][]byte, len(tokens))
	for i, t := range tokens {
		allowed := alwaysAdmin && isAdmin
		if !allowed {
			var a, d int
			for _, id := range caller {
				ea, ed := v.effective(t, id.Legacy)
				a, d = a|ea, d|ed
			}
			allowed = perms&a == perms && perms&d == 0
		}
		items[i] = []byte(strconv.FormatBool(allowed))
	}
	writeList(c.w, items)
}

// SetAccessControlEntries sets entries on a token. With merge an entry's
// bits are merged into the current entry (an incoming allow clears the
// same deny bit and the reverse); without, it replaces the entry. Each
// entry that changes writes a Security.ModifyPermission audit entry with
// the data keys of the service's event (NamespaceId, NamespaceName, Token,
// SubjectDescriptor, ChangedPermission, PermissionModifiedTo, EventSummary).
// Callers hold the write lock.
func (o *Org) SetAccessControlEntries(actor *Subject, ns *securityNamespace, token string, merge bool, entries []aceInput) ([]ace, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: the token is required", errInvalid)
	}
	for _, e := range entries {
		if !strings.Contains(e.Descriptor, ";") {
			return nil, fmt.Errorf("%w: %q is not an identity descriptor (type;identifier); use the identity's legacy descriptor from the Identities API", errInvalid, e.Descriptor)
		}
	}
	v := o.aclView(ns)
	now := o.clock.Now()
	out := make([]ace, 0, len(entries))
	for _, e := range entries {
		oldAllow, oldDeny := v.explicit(token, e.Descriptor)
		next := ace{token: token, descriptor: e.Descriptor, allow: e.Allow, deny: e.Deny}
		if merge {
			next.allow = oldAllow&^e.Deny | e.Allow
			next.deny = oldDeny&^e.Allow | e.Deny
		}
		o.storeACE(ns, next)
		v.put(next)
		out = append(out, next)
		if next.allow == oldAllow && next.deny == oldDeny {
			continue
		}
		o.auditPermission(now, actor, ns, token, e.Descriptor, oldAllow, oldDeny, next.allow, next.deny)
	}
	return out, nil
}

// RemoveAccessControlEntries removes the entries of descriptors from a
// token and reports whether any existed; removing any writes one
// Security.RemovePermission audit entry (data NamespaceId, NamespaceName,
// Token, Identities). Callers hold the write lock.
func (o *Org) RemoveAccessControlEntries(actor *Subject, ns *securityNamespace, token string, descriptors []string) (bool, error) {
	if token == "" || len(descriptors) == 0 {
		return false, fmt.Errorf("%w: token and descriptors are required", errInvalid)
	}
	v := o.aclView(ns)
	var removed, names []string
	for _, d := range descriptors {
		if a, dn := v.explicit(token, d); a == 0 && dn == 0 {
			continue
		}
		o.storeACE(ns, ace{token: token, descriptor: d, removed: true})
		removed = append(removed, d)
		names = append(names, o.identityName(d))
	}
	if len(removed) == 0 {
		return false, nil
	}
	o.record(o.clock.Now(), actor, "Security.RemovePermission",
		fmt.Sprintf("All permissions were removed for %s on namespace %s and token %s.", strings.Join(names, ", "), ns.name, token),
		o.projectInToken(token), map[string]any{"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": token, "Identities": removed})
	return true, nil
}

// storeACE records a change, replacing an earlier change of the same entry.
func (o *Org) storeACE(ns *securityNamespace, e ace) {
	k := aclKey{ns.id, strings.ToLower(e.token)}
	list := o.aces[k]
	if i := slices.IndexFunc(list, func(x ace) bool { return strings.EqualFold(x.descriptor, e.descriptor) }); i >= 0 {
		list[i] = e
		return
	}
	o.aces[k] = append(list, e)
}

// auditPermission writes the Security.ModifyPermission entry of one
// changed entry: the bits newly allowed, newly denied and no longer set.
func (o *Org) auditPermission(at time.Time, actor *Subject, ns *securityNamespace, token, descriptor string, oldAllow, oldDeny, allow, deny int) {
	name := o.identityName(descriptor)
	var summary []map[string]any
	for _, ch := range []struct {
		mask int
		to   string
	}{
		{allow &^ oldAllow, "Allow"},
		{deny &^ oldDeny, "Deny"},
		{(oldAllow | oldDeny) &^ (allow | deny), "Not set"},
	} {
		if ch.mask != 0 {
			summary = append(summary, map[string]any{"permissionNames": ns.names(ch.mask), "change": ch.to, "subjectDisplayName": name})
		}
	}
	first := summary[0]
	o.record(at, actor, "Security.ModifyPermission",
		fmt.Sprintf(`Permission "%s\%s" was set to %s for %s.`, ns.name, first["permissionNames"], first["change"], name),
		o.projectInToken(token), map[string]any{
			"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": token,
			"SubjectDescriptor": descriptor, "SubjectDisplayName": name,
			"ChangedPermission": first["permissionNames"], "PermissionModifiedTo": first["change"],
			"EventSummary": summary,
		})
}

// identityName is how the audit log names an identity: its principal name
// for groups ("[project]\Contributors"), its display name otherwise, the
// descriptor itself when unknown.
func (o *Org) identityName(descriptor string) string {
	s := o.byLegacy[descriptor]
	switch {
	case s == nil:
		return descriptor
	case s.IsGroup():
		return s.PrincipalName
	}
	return s.DisplayName
}

// projectInToken finds the project a token belongs to, for the audit
// entry's project fields.
func (o *Org) projectInToken(token string) *Project {
	for _, part := range strings.FieldsFunc(token, func(r rune) bool { return r == '/' || r == '\\' || r == ':' }) {
		if p := o.projectByID[strings.ToLower(part)]; p != nil {
			return p
		}
	}
	return nil
}
