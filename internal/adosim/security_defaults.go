package adosim

import (
	"crypto/sha1"
	"fmt"
	"slices"
)

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
