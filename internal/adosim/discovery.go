package adosim

import (
	"net/http"
	"strings"
)

// The v7 clients find where each API lives in two steps: GET
// {org}/_apis/ResourceAreas maps an area id to a service URL (an empty list
// means on-prem: everything under the organization URL), then OPTIONS
// {service}/_apis lists the route templates served there. The simulator
// answers both from this table.

// location is one ApiResourceLocation.
type location struct {
	id, area, resource, template string
	resourceVersion              int
	host                         host
}

var locations = []location{
	// The location service answers on every service of an organization.
	{"e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, hostOrg},
	{"e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, hostVSSPS},
	{"e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, hostVSAEX},
	{"e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, hostAudit},
	{"00d9565f-ed9c-4a06-9a50-00e7896ccab4", "Location", "ConnectionData", "_apis/connectionData", 1, hostOrg},
	// Graph
	{"005e26ec-6b77-4e4f-a986-b3827bf241f5", "Graph", "Users", "_apis/Graph/Users/{userDescriptor}", 1, hostVSSPS},
	{"ebbe6af8-0b91-4c13-8cf1-777c14858188", "Graph", "Groups", "_apis/Graph/Groups/{groupDescriptor}", 1, hostVSSPS},
	{"e1dbb0ae-49cb-4532-95a1-86cd89cfcab4", "Graph", "ServicePrincipals", "_apis/Graph/ServicePrincipals/{servicePrincipalDescriptor}", 1, hostVSSPS},
	{"e34b6394-6b30-4435-94a9-409a5eef3e31", "Graph", "Memberships", "_apis/Graph/Memberships/{subjectDescriptor}", 1, hostVSSPS},
	{"3fd2e6ca-fb30-443a-b579-95b19ed0934c", "Graph", "Memberships", "_apis/Graph/Memberships/{subjectDescriptor}/{containerDescriptor}", 1, hostVSSPS},
	{"1ffe5c94-1144-4191-907b-d0211cad36a8", "Graph", "MembershipStates", "_apis/Graph/MembershipStates/{subjectDescriptor}", 1, hostVSSPS},
	{"048aee0a-7072-4cde-ab73-7af77b1e0b4e", "Graph", "Descriptors", "_apis/Graph/Descriptors/{storageKey}", 1, hostVSSPS},
	{"eb85f8cc-f0f6-4264-a5b1-ffe2e4d4801f", "Graph", "StorageKeys", "_apis/Graph/StorageKeys/{subjectDescriptor}", 1, hostVSSPS},
	{"4dd4d168-11f2-48c4-83e8-756fa0de027c", "Graph", "SubjectLookup", "_apis/Graph/SubjectLookup", 1, hostVSSPS},
	{"05942c89-006a-48ce-bb79-baeb8abf99c6", "Graph", "SubjectQuery", "_apis/Graph/SubjectQuery", 1, hostVSSPS},
	// Identities (IMS)
	{"28010c54-d0c0-4c89-a5b0-1c9e188b9fb7", "IMS", "Identities", "_apis/{resource}/{identityId}", 1, hostVSSPS},
	{"299e50df-fe45-4d3a-8b5b-a5836fac74dc", "IMS", "IdentityBatch", "_apis/{resource}", 1, hostVSSPS},
	// Member entitlements
	{"387f832c-dbf2-4643-88e9-c1aa94dbb737", "MemberEntitlementManagement", "UserEntitlements", "_apis/{resource}", 3, hostVSAEX},
	{"8480c6eb-ce60-47e9-88df-eca3c801638b", "MemberEntitlementManagement", "UserEntitlements", "_apis/{resource}/{userId}", 3, hostVSAEX},
	{"9bce1f43-2629-419f-8f6c-7503be58a4f3", "MemberEntitlementManagement", "GroupEntitlements", "_apis/{resource}", 1, hostVSAEX},
	{"2280bffa-58a2-49da-822e-0764a1bb44f7", "MemberEntitlementManagement", "GroupEntitlements", "_apis/{resource}/{groupId}", 1, hostVSAEX},
	{"45a36e53-5286-4518-aa72-2d29f7acc5d8", "MemberEntitlementManagement", "Members", "_apis/GroupEntitlements/{groupId}/{resource}/{memberId}", 1, hostVSAEX},
	{"f03dbf50-80f8-41b7-8ca2-65b6a178caba", "MemberEntitlementManagement", "ServicePrincipalEntitlements", "_apis/{resource}", 1, hostVSAEX},
	{"1d491a66-190b-43ae-86b8-9c2688c55186", "MemberEntitlementManagement", "ServicePrincipalEntitlements", "_apis/{resource}/{servicePrincipalId}", 1, hostVSAEX},
	// Core
	{"603fe2ac-9723-48b9-88ad-09305aa6c6e1", "core", "projects", "_apis/{resource}/{*projectId}", 4, hostOrg},
	{"d30a3dd1-f8ba-442a-b86a-bd0c0c383e59", "core", "teams", "_apis/projects/{projectId}/{resource}/{*teamId}", 3, hostOrg},
	{"7a4d9ee9-3433-4347-b47a-7a80f1cf307e", "core", "teams", "_apis/{resource}", 3, hostOrg},
	{"294c494c-2600-4d7e-b76c-3dd50c3c95be", "core", "members", "_apis/projects/{projectId}/teams/{teamId}/{resource}", 2, hostOrg},
	// Git
	{"225f7195-f9c7-4d14-ab28-a83f7ff77e1f", "git", "repositories", "{project}/_apis/{area}/{resource}/{repositoryId}", 1, hostOrg},
	// Security
	{"ce7b9f95-fde9-4be8-a86d-83b366f0b87a", "Security", "SecurityNamespaces", "_apis/{resource}/{securityNamespaceId}", 1, hostOrg},
	{"18a2ad18-7571-46ae-bec7-0c7da1495885", "Security", "AccessControlLists", "_apis/{resource}/{securityNamespaceId}", 1, hostOrg},
	{"ac08c8ff-4323-4b08-af90-bcd018d380ce", "Security", "AccessControlEntries", "_apis/{resource}/{securityNamespaceId}", 1, hostOrg},
	{"dd3b8bd6-c7fc-4cbd-929a-933d9c011c9d", "Security", "Permissions", "_apis/{resource}/{securityNamespaceId}/{permissions}", 2, hostOrg},
	{"cf1faa59-1b63-4448-bf04-13d981a46f5d", "Security", "PermissionEvaluationBatch", "_apis/security/{resource}", 1, hostOrg},
	// Audit
	{"4e5fa14f-7097-4b73-9c85-00abc7353c61", "audit", "auditlog", "_apis/{area}/{resource}", 1, hostAudit},
	{"6fa30b9a-9558-4e3b-a95f-a12572caa6e6", "audit", "actions", "_apis/{area}/{resource}", 1, hostAudit},
	// Accounts and profiles
	{"229a6a53-b428-4ffb-a835-e8f36b5b4b1e", "Account", "Accounts", "_apis/{resource}", 1, hostApp},
	{"f83735dc-483f-4238-a291-d45f6080a9af", "Profile", "Profiles", "_apis/{area}/{resource}/{id}", 3, hostApp},
}

// resourceAreas maps the areas the product uses to the service that hosts them.
var resourceAreas = []struct {
	id, name string
	host     host
}{
	{"bb1e7ec9-e901-4b68-999a-de7012b920f8", "Graph", hostVSSPS},
	{"8a3d49b8-91f0-46ef-b33d-dda338c25db3", "IMS", hostVSSPS},
	{"68ddce18-2501-45f1-a17b-7931a9922690", "MemberEntitlementManagement", hostVSAEX},
	{"79134c72-4a58-4b42-976c-04e7115f32bf", "core", hostOrg},
	{"4e080c62-fa21-4fbc-8fef-2a10a2b38049", "git", hostOrg},
	{"94ff054d-5ee1-413d-9341-3f4a7827de2e", "audit", hostAudit},
	{"0d55247a-1c47-4462-9b1f-5e2125590ee6", "Account", hostApp},
	{"8ccfef3d-2b87-4e99-8ccb-66e343d2daa8", "Profile", hostApp},
	{"2e426be0-da4d-48c4-9178-978da8562255", "Security", hostOrg},
}

func (s *Server) discoveryRoutes() []*route {
	var rs []*route
	for _, h := range []host{hostOrg, hostVSSPS, hostVSAEX, hostAudit, hostApp} {
		rs = append(rs,
			newRoute(h, http.MethodOptions, "_apis", "discovery.options", "", s.handleOptions),
			// The area-scoped form other official clients use to find one
			// area's routes.
			newRoute(h, http.MethodOptions, "_apis/{area}", "discovery.options", "", s.handleOptions))
	}
	rs = append(rs,
		newRoute(hostOrg, http.MethodGet, "_apis/connectionData", "discovery.connectiondata", anyScope, s.handleConnectionData),
	)
	for _, h := range []host{hostOrg, hostVSSPS, hostVSAEX, hostAudit} {
		rs = append(rs,
			newRoute(h, http.MethodGet, "_apis/ResourceAreas", "discovery.resourceareas", "", s.handleResourceAreas),
			newRoute(h, http.MethodGet, "_apis/ResourceAreas/{areaId}", "discovery.resourceareas", "", s.handleResourceAreas))
	}
	return rs
}

// handleOptions lists the route templates a service serves: all of them,
// or, for OPTIONS _apis/{area}, those of one area (named in any case; an
// area the service does not host has none).
func (s *Server) handleOptions(c *call) {
	area := c.param("area")
	items := []map[string]any{}
	listed := map[string]bool{}
	for _, l := range locations {
		if !s.serves(c.host, l.host) || area != "" && !strings.EqualFold(area, l.area) || listed[l.id] {
			continue
		}
		listed[l.id] = true
		items = append(items, map[string]any{
			"id": l.id, "area": l.area, "resourceName": l.resource, "routeTemplate": l.template,
			"resourceVersion": l.resourceVersion, "minVersion": "1.0", "maxVersion": "7.2", "releasedVersion": "7.1",
		})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"count": len(items), "value": items})
}

func (s *Server) handleResourceAreas(c *call) {
	items := []map[string]any{}
	if !s.opts.OnPrem {
		for _, a := range resourceAreas {
			if id := c.param("areaId"); id != "" && !strings.EqualFold(id, a.id) {
				continue
			}
			items = append(items, map[string]any{"id": a.id, "name": a.name, "locationUrl": c.o.hostURL(a.host) + "/"})
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"count": len(items), "value": items})
}

// anyScope marks a route that any valid credential may call.
const anyScope = "*"

// handleConnectionData answers the location service's connectionData: the
// organization's instance id (the same id the Accounts API lists as
// accountId), and who the credential authenticates as. Every default
// credential belongs to the organization's administrator.
func (s *Server) handleConnectionData(c *call) {
	o := c.o
	o.mu.RLock()
	user := c.o.identityJSON(o.admin, membershipNone)
	o.mu.RUnlock()
	writeJSON(c.w, http.StatusOK, map[string]any{
		"authenticatedUser": user,
		"authorizedUser":    user,
		"instanceId":        o.ID,
		"deploymentId":      o.deploymentID(),
		"deploymentType":    s.deploymentType(),
		"locationServiceData": map[string]any{
			"serviceOwner":                "00025394-6065-48ca-87d9-7f5672854ef7",
			"defaultAccessMappingMoniker": "PublicAccessMapping",
			"lastChangeId":                1, "lastChangeId64": 1,
			"accessMappings": []map[string]any{{
				"displayName": "Public Access Mapping", "moniker": "PublicAccessMapping",
				"accessPoint": c.o.hostURL(hostOrg) + "/", "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
			}},
		},
	})
}

// deploymentType is DeploymentFlags: "hosted" in the cloud, "onPremises" for Azure DevOps Server.
func (s *Server) deploymentType() string {
	if s.opts.OnPrem {
		return "onPremises"
	}
	return "hosted"
}
