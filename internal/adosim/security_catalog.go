package adosim

import (
	"strconv"
	"strings"
)

// The security namespaces GET _apis/securitynamespaces lists, as an
// organization of the service has them. Ids, names and action bits are the
// service's: the ten namespaces of the security/7.1 example are copied from
// it field by field (separator, read and write permissions, dataspace,
// structure, extension type, flags); for the others the ids, names, bits
// and display names are those the service answers (the namespace reference
// of the Azure DevOps docs, and dumps of the list), while separators,
// read/write permissions and dataspaces follow the tokens the docs describe
// and are best guesses where the docs say nothing. Only some namespaces
// hold default ACLs (defaults, in security_defaults.go); every one takes
// entries written through the API.

// catalogEntry is one namespace in compact form. actions lists
// "bit Name Display name" items separated by '|'.
type catalogEntry struct {
	id, name, separator string
	read, write         int
	dataspace           string
	flat                bool   // structureValue 0: tokens form no hierarchy
	extension           string // "" answers null
	remotable           bool
	translator          bool
	actions             string
}

var securityCatalog = []catalogEntry{
	// From the security/7.1 example.
	{id: nsIdentity, name: "Identity", separator: `\`, read: 1, write: 4, dataspace: "Default",
		extension: "Microsoft.TeamFoundation.Framework.Server.IdentitySecurityNamespaceExtension",
		actions:   "1 Read View identity information|2 Write Edit identity information|4 Delete Delete identity information|8 ManageMembership Manage group membership|16 CreateScope Create identity scopes"},
	{id: "445d2788-c5fb-4132-bbef-09c4045ad93f", name: "WorkItemTrackingAdministration", separator: "\x00", read: 0, write: 1, dataspace: "WorkItem", flat: true,
		actions: "1 ManagePermissions Manage permissions|2 DestroyAttachments Destroy attachments"},
	{id: "101eae8c-1709-47f9-b228-0e476c35b3ba", name: "DistributedTask", separator: "/", read: 1, write: 8, dataspace: "DistributedTask",
		extension: "Microsoft.TeamFoundation.DistributedTask.Server.Extensions.TaskSecurityExtension",
		actions:   "1 View View|2 Manage Manage|4 Listen Listen|8 AdministerPermissions Administer Permissions|16 Use Use|32 Create Create"},
	{id: "71356614-aad7-4757-8f2c-0fb3bff6f680", name: "WorkItemQueryFolders", separator: "/", read: 1, write: 8, dataspace: "WorkItem", translator: true,
		actions: "1 Read Read|2 Contribute Contribute|4 Delete Delete|8 ManagePermissions Manage Permissions|16 FullControl Full Control"},
	{id: nsGit, name: "Git Repositories", separator: "/", read: 2, write: 8192, dataspace: "Git", remotable: true,
		actions: "1 Administer Administer|2 GenericRead Read|4 GenericContribute Contribute|8 ForcePush Force push (rewrite history and delete branches)|" +
			"16 CreateBranch Create branch|32 CreateTag Create tag|64 ManageNote Manage notes|128 PolicyExempt Bypass policies when pushing|" +
			"256 CreateRepository Create repository|512 DeleteRepository Delete repository|1024 RenameRepository Rename repository|" +
			"2048 EditPolicies Edit policies|4096 RemoveOthersLocks Remove others' locks|8192 ManagePermissions Manage permissions|" +
			"16384 PullRequestContribute Contribute to pull requests|32768 PullRequestBypassPolicy Bypass policies when completing pull requests|" +
			"65536 ViewAdvSecAlerts Advanced Security: view alerts|131072 DismissAdvSecAlerts Advanced Security: manage and dismiss alerts|" +
			"262144 ManageAdvSecScanning Advanced Security: manage settings"},
	{id: "4ae0db5d-8437-4ee8-a18b-1f6fb38bd34c", name: "Registry", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read Read registry entries|2 Write Write registry entries"},
	{id: "3c15a8b7-af1a-45c2-aa97-2cb97078332e", name: "VersionControlItems2", separator: "/", read: 1, write: 1024, dataspace: "VersionControl", remotable: true, translator: true,
		extension: "Microsoft.TeamFoundation.VersionControl.Server.PlugIns.RepositorySecurityNamespaceExtension",
		actions:   tfvcActions},
	{id: "2bf24a2b-70ba-43d3-ad97-3d9e1f75622f", name: "EventSubscriber", separator: ":", read: 1, write: 2, dataspace: "Default",
		actions: "1 GENERIC_READ View|2 GENERIC_WRITE Edit"},
	{id: "5a6cd233-6615-414d-9393-48dbb252bd23", name: "WorkItemTrackingProvision", separator: "/", read: 0, write: 1, dataspace: "WorkItem", translator: true,
		extension: "Microsoft.TeamFoundation.WorkItemTracking.Server.WitProvisionSecurityExtension",
		actions:   "1 Administer Administer|2 ManageLinkTypes Manage work item link types"},
	{id: nsEndpoints, name: "ServiceEndpoints", separator: "/", read: 0, write: 2, dataspace: "Default", translator: true,
		actions: "1 Use Use Endpoint|2 Administer Administer Endpoint|4 Create Create Endpoint|8 ViewAuthorization View Authorization|16 ViewEndpoint View Endpoint"},

	// The namespaces the product's defaults and the docs' token formats describe.
	{id: nsProject, name: "Project", separator: ":", read: 1, write: 2, dataspace: "Default", remotable: true,
		actions: "1 GENERIC_READ View project-level information|2 GENERIC_WRITE Edit project-level information|4 DELETE Delete team project|" +
			"8 PUBLISH_TEST_RESULTS Create test runs|16 ADMINISTER_BUILD Administer a build|32 START_BUILD Start a build|" +
			"64 EDIT_BUILD_STATUS Edit build quality|128 UPDATE_BUILD Write to build operational store|256 DELETE_TEST_RESULTS Delete test runs|" +
			"512 VIEW_TEST_RESULTS View test runs|2048 MANAGE_TEST_ENVIRONMENTS Manage test environments|" +
			"4096 MANAGE_TEST_CONFIGURATIONS Manage test configurations|8192 WORK_ITEM_DELETE Delete and restore work items|" +
			"16384 WORK_ITEM_MOVE Move work items out of this project|32768 WORK_ITEM_PERMANENTLY_DELETE Permanently delete work items|" +
			"65536 RENAME Rename team project|131072 MANAGE_PROPERTIES Manage project properties|" +
			"262144 MANAGE_SYSTEM_PROPERTIES Manage system project properties|524288 BYPASS_PROPERTY_CACHE Bypass project property cache|" +
			"1048576 BYPASS_RULES Bypass rules on work item updates|2097152 SUPPRESS_NOTIFICATIONS Suppress notifications for work item updates|" +
			"4194304 UPDATE_VISIBILITY Update project visibility|8388608 CHANGE_PROCESS Change process of team project.|" +
			"16777216 AGILETOOLS_BACKLOG Agile backlog management.|33554432 AGILETOOLS_PLANS Agile plans."},
	{id: nsBuild, name: "Build", separator: "/", read: 1, write: 16384, dataspace: "Build", remotable: true, translator: true,
		actions: "1 ViewBuilds View builds|2 EditBuildQuality Edit build quality|4 RetainIndefinitely Retain indefinitely|8 DeleteBuilds Delete builds|" +
			"16 ManageBuildQualities Manage build qualities|32 DestroyBuilds Destroy builds|64 UpdateBuildInformation Update build information|" +
			"128 QueueBuilds Queue builds|256 ManageBuildQueue Manage build queue|512 StopBuilds Stop builds|1024 ViewBuildDefinition View build pipeline|" +
			"2048 EditBuildDefinition Edit build pipeline|4096 DeleteBuildDefinition Delete build pipeline|" +
			"8192 OverrideBuildCheckInValidation Override check-in validation by build|16384 AdministerBuildPermissions Administer build permissions"},
	{id: nsRelease, name: "ReleaseManagement", separator: "/", read: 1, write: 512, dataspace: "ReleaseManagement", remotable: true, translator: true,
		actions: "1 ViewReleaseDefinition View release pipeline|2 EditReleaseDefinition Edit release pipeline|4 DeleteReleaseDefinition Delete release pipeline|" +
			"8 ManageReleaseApprovers Manage release approvers|16 ManageReleases Manage releases|32 ViewReleases View releases|64 CreateReleases Create releases|" +
			"128 EditReleaseEnvironment Edit release stage|256 DeleteReleaseEnvironment Delete release stage|" +
			"512 AdministerReleasePermissions Administer release permissions|1024 DeleteReleases Delete releases|2048 ManageDeployments Manage deployments|" +
			"4096 ManageReleaseSettings Manage release settings|8192 ManageTaskHubExtension Manage TaskHub Extension"},
	{id: "7c7d32f7-0e86-4cd6-892e-b35dbba870bd", name: "ReleaseManagement", separator: "/", read: 1, write: 1, dataspace: "ReleaseManagement",
		actions: "1 ViewTaskEditor View task editor|2 ViewCDWorkflowEditor View CD work flow editor|4 ExportReleaseDefinition Export release definition|" +
			"8 ViewLegacyUI View legacy UI|16 DeploymentSummaryAcrossProjects Deployment summary across projects|" +
			"32 ViewExternalArtifactCommitsAndWorkItems View external artifact commits and work items"},
	{id: nsCSS, name: "CSS", separator: ":", read: 1, write: 2, dataspace: "Default", translator: true,
		actions: "1 GENERIC_READ View permissions for this node|2 GENERIC_WRITE Edit this node|4 CREATE_CHILDREN Create child nodes|8 DELETE Delete this node|" +
			"16 WORK_ITEM_READ View work items in this node|32 WORK_ITEM_WRITE Edit work items in this node|64 MANAGE_TEST_PLANS Manage test plans|" +
			"128 MANAGE_TEST_SUITES Manage test suites"},
	{id: nsIteration, name: "Iteration", separator: ":", read: 1, write: 2, dataspace: "Default", translator: true,
		actions: "1 GENERIC_READ View permissions for this node|2 GENERIC_WRITE Edit this node|4 CREATE_CHILDREN Create child nodes|8 DELETE Delete this node"},
	{id: nsCollection, name: "Collection", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 GENERIC_READ View instance-level information|2 GENERIC_WRITE Edit instance-level information|4 CREATE_PROJECTS Create new projects|" +
			"16 TRIGGER_EVENT Trigger events|32 MANAGE_TEMPLATE Manage process template|64 DIAGNOSTIC_TRACE Alter trace settings|" +
			"128 SYNCHRONIZE_READ View system synchronization information|512 MANAGE_TEST_CONTROLLERS Manage test controllers|" +
			"1024 DELETE_FIELD Delete field from organization|2048 MANAGE_ENTERPRISE_POLICIES Manage enterprise policies"},
	{id: "58450c49-b02d-465a-ab12-59ae512d6531", name: "Analytics", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read View analytics|2 Administer Manage analytics permissions|4 Stage Push the data to staging area|" +
			"8 ExecuteUnrestrictedQuery Execute query without any restrictions on the query form|16 ReadEuii Read EUII data"},
	{id: "d34d3680-dfe5-4cc6-a949-7d9c68f73cba", name: "AnalyticsViews", separator: "/", read: 1, write: 1024, dataspace: "Default",
		actions: "1 Read View shared Analytics views|2 Edit Edit shared Analytics views|4 Delete Delete shared Analytics views|8 Execute Execute Analytics views|1024 ManagePermissions Manage"},
	{id: "a6cc6381-a1ca-4b36-b3c1-4e65211e82b6", name: "AuditLog", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read View audit log|2 Write Write to the audit log|4 Manage_Streams Manage audit streams|8 Delete_Streams Delete audit streams"},
	{id: "cb594ebe-87dd-4fc9-ac2c-6a10a4c92046", name: "ServiceHooks", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 ViewSubscriptions View Subscriptions|2 EditSubscriptions Edit Subscription|4 DeleteSubscriptions Delete Subscriptions|8 PublishEvents Publish Events"},
	{id: "bc295513-b1a2-4663-8d1a-7017fd760d18", name: "Chat", separator: "/", read: 1, write: 2048, dataspace: "Default",
		actions: "1 ReadChatRoomMetadata Read Chat Room Metadata|2 UpdateChatRoomMetadata Update Chat Room Metadata|4 CreateChatRoom Create Chat Room|" +
			"8 CloseChatRoom Close Chat Room|16 DeleteChatRoom Delete Chat Room|32 AddRemoveChatRoomMember Add/Remove Chat Room Member|" +
			"64 ReadChatRoomMessage Read Chat Room Message|128 WriteChatRoomMessage Write Chat Room Message|256 UpdateChatRoomMessage Update Chat Room Message|" +
			"512 DeleteChatRoomMessage Delete Chat Room Message|1024 ReadChatRoomTranscript Read Chat Room Transcript|2048 ManageChatPermissions Manage Chat Permissions"},
	{id: "cb4d56d2-e84b-457e-8845-81320a133fbb", name: "Proxy", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read Read proxies|2 Manage Manage proxies"},
	{id: "bed337f8-e5f3-4fb9-80da-81e17d06e7a8", name: "Plan", separator: "/", read: 1, write: 8, dataspace: "Default",
		actions: "1 View View|2 Edit Edit|4 Delete Delete|8 Manage Manage"},
	{id: "2dab47f9-bd70-49ed-9bd5-8eb051e59c02", name: "Process", separator: ":", read: 16, write: 8, dataspace: "Default",
		actions: "1 Edit Edit process|2 Delete Delete process|4 Create Create process|8 AdministerProcessPermissions Administer process permissions|16 ReadProcessPermissions View process"},
	{id: "11238e09-49f2-40c7-94d0-8f0307204ce4", name: "AccountAdminSecurity", separator: "/", read: 1, write: 4, dataspace: "Default",
		actions: "1 Read Read account resource|2 Create Create account resource|4 Modify Modify account resource"},
	{id: "b7e84409-6553-448a-bbb2-af228e07cbeb", name: "Library", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 View View library item|2 Administer Administer library item|4 Create Create library item|8 ViewSecrets View library item secrets|16 Use Use library item|32 Owner Owner library item"},
	{id: "83d4c2e6-e57d-4d6e-892b-b87222b7ad20", name: "Environment", separator: "/", read: 1, write: 8, dataspace: "Default",
		actions: "1 View View|2 Manage Manage|4 ManageHistory Manage history|8 Administer Administer Permissions|16 Use Use|32 Create Create"},
	{id: "58b176e7-3411-457a-89d0-c6d0ccb3c52b", name: "EventSubscription", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 GENERIC_READ View|2 GENERIC_WRITE Edit|4 UNSUBSCRIBE Unsubscribe|8 CREATE_SOAP_SUBSCRIPTION Create a SOAP subscription"},
	{id: "9e4894c3-ff9a-4eac-8a85-ce11cafdc6f1", name: "TeamLabSecurity", separator: "/", read: 1, write: 2048, dataspace: "Default",
		actions: "1 Read Read|2 Create Create|4 Write Write|8 Edit Edit|16 Delete Delete|32 Start Start|64 Stop Stop|128 Pause Pause|256 ManageSnapshots ManageSnapshots|" +
			"512 ManageLocation ManageLocation|1024 DeleteLocation DeleteLocation|2048 ManagePermissions ManagePermissions|4096 ManageChildPermissions ManageChildPermissions|" +
			"8192 ManageTestMachines ManageTestMachines"},
	{id: "fc5b7b85-5d6b-41eb-8534-e128cb10eb67", name: "ProjectAnalysisLanguageMetrics", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read View Project Analysis language metrics data|2 Write Write Project Analysis language metrics data"},
	{id: "bb50f182-8e5e-40b8-bc21-e8752a1e7ae2", name: "Tagging", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Enumerate Enumerate tag definitions|2 Create Create tag definition|4 Update Update tag definition|8 Delete Delete tag definition"},
	{id: "f6a4de49-dbe2-4704-86dc-f8ec1a294436", name: "MetaTask", separator: "/", read: 0, write: 1, dataspace: "Default",
		actions: "1 Administer Administer task group permissions|2 Edit Edit task group|4 Delete Delete task group"},
	{id: "fa557b48-b5bf-458a-bb2b-1b680426fe8b", name: "Favorites", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 GenericRead View instance-level information|2 GenericWrite Edit instance-level information"},
	{id: "c2ee56c9-e8fa-4cdd-9d48-2c44f697a58e", name: "Graph", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 ReadByPublicIdentifier Read by public identifier|2 ReadByPersonalIdentifier Read by personal identifier"},
	{id: "dc02bf3d-cd48-46c3-8a41-345094ecc94b", name: "ViewActivityPaneSecurity", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 Read View only entities"},
	{id: "2a887f97-db68-4b7c-9ae3-5cebd7add999", name: "Job", separator: "/", read: 1, write: 4, dataspace: "Default",
		actions: "1 Read View background job information|2 Queue Queue background jobs|4 Update Manage background jobs"},
	{id: "73e71c45-d483-40d5-bdba-62fd076f7f87", name: "WorkItemTracking", separator: "/", read: 1, write: 0, dataspace: "WorkItem",
		actions: "1 Read Read WorkItemTracking|2 CrossProjectRead Cross Project Read Of WorkItemTracking Resources|4 TrackWorkItemActivity Track work item read and write for a user|" +
			"8 ReadRules Read rules only if permissions are avaliable|16 ReadHistoricalWorkItemResources Read historical work item resources"},
	{id: "4a9e8381-289a-4dfd-8460-69028eaa93b3", name: "StrongBox", separator: "/", read: 32, write: 4, dataspace: "Default",
		actions: "1 CreateDrawer Create a StrongBox Drawer.|2 DeleteDrawer Delete as StrongBox Drawer.|4 Administer Administer StrongBox Permissions.|" +
			"16 AddItem Add Items to the StrongBox Drawer.|32 GetItem Retrieve Items from the StrongBox Drawer.|64 DeleteItem Delete Items from the StrongBox Drawer.|" +
			"128 AdministerDrawer Administer permissions for the StrongBox Drawer."},
	{id: "1f4179b3-6bac-4d01-b421-71ea09171400", name: "Server", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 GenericRead View instance-level information|2 GenericWrite Edit instance-level information|4 Impersonate Make requests on behalf of others|16 TriggerEvent Trigger events"},
	{id: "e06e1c24-e93d-4e4a-908a-7d951187b483", name: "TestManagement", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 Read Read TestManagement"},
	{id: "6ec4592e-048c-434e-8e6c-8671753a8418", name: "SettingEntries", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read Retrieve setting entries|2 Write Write setting entries"},
	{id: "302acaca-b667-436d-a946-87133492041c", name: "BuildAdministration", separator: "/", read: 1, write: 8, dataspace: "Default",
		actions: "1 ViewBuildResources View build resources|2 ManageBuildResources Manage build resources|4 UseBuildResources Use build resources|" +
			"8 AdministerBuildResourcePermissions Administer build resource permissions"},
	{id: "2725d2bc-7520-4af4-b0e3-8d876494731f", name: "Location", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read Read service definitions and/or access mappings.|2 Write Write service definitions and/or access mappings."},
	{id: "83abde3a-4593-424e-b45f-9898af99034d", name: "UtilizationPermissions", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 QueryUsageSummary Query Others' Usage"},
	{id: "c0e7a722-1cad-4ae6-b340-a8467501e7ce", name: "WorkItemsHub", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 View View work items hub"},
	{id: "0582eb05-c896-449a-b933-aa3d99e121d6", name: "WebPlatform", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 Read View web platform entities"},
	{id: "66312704-deb5-43f9-b51c-ab4ff5e351c3", name: "VersionControlPrivileges", separator: "/", read: 0, write: 4, dataspace: "VersionControl",
		actions: "2 CreateWorkspace Create a workspace|4 AdminWorkspaces Administer workspaces|8 AdminShelvesets Administer shelved changes|" +
			"16 AdminConnections Administer source control connections|32 AdminConfiguration Administer source control configurations"},
	{id: "93bafc04-9075-403a-9367-b7164eac6b5c", name: "Workspaces", separator: "/", read: 1, write: 8, dataspace: "VersionControl",
		actions: "1 Read View workspace information|2 Use Use the workspace|4 Checkin Check in changes to the workspace|8 Administer Administer the workspace"},
	{id: "093cbb02-722b-4ad6-9f88-bc452043fa63", name: "CrossProjectWidgetView", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 GenericRead View instance-level information"},
	{id: "35e35e8e-686d-4b01-aff6-c369d6e36ce0", name: "WorkItemTrackingConfiguration", separator: "/", read: 1, write: 0, dataspace: "WorkItem",
		actions: "1 Read View work item tracking configuration"},
	{id: "0d140cae-8ac1-4f48-b6d1-c93ce0301a12", name: "Discussion Threads", separator: "/", read: 2, write: 1, dataspace: "Default",
		actions: "1 Administer Manage discussion permissions|2 GenericRead View discussions|4 GenericContribute Contribute to discussions|8 Moderate Moderate discussions"},
	{id: "5ab15bc8-4ea1-d0f3-8344-cab8fe976877", name: "BoardsExternalIntegration", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read View boards external integrations|2 Write Write boards external integrations"},
	{id: "7ffa7cf4-317c-4fea-8f1d-cfda50cfa956", name: "DataProvider", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 Read View data provider entities"},
	{id: "81c27cc8-7a9f-48ee-b63f-df1e1d0412dd", name: "Social", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 GenericRead View instance-level information|2 GenericWrite Edit instance-level information"},
	{id: "9a82c708-bfbe-4f31-984c-e860c2196781", name: "Security", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 Read Read"},
	{id: "a60e0d84-c2f8-48e4-9c0c-f32da48d5fd1", name: "IdentityPicker", separator: "/", read: 1, write: 0, dataspace: "Default",
		actions: "1 ReadBasic Read basic Identity Picker properties|2 ReadRestricted Read restricted Identity Picker properties"},
	{id: "84cc1aa4-15bc-423d-90d9-f97c450fc729", name: "ServicingOrchestration", separator: "/", read: 1, write: 2, dataspace: "Default",
		actions: "1 Read View Servicing Orchestration information|2 Queue Queue Servicing Orchestration jobs|4 Cancel Cancel Servicing Orchestration jobs"},
	{id: "8adf73b7-389a-4276-b638-fe1653f7efc7", name: "DashboardsPrivileges", separator: "/", read: 1, write: 16, dataspace: "Default",
		actions: "1 Read Read|2 Create Create dashboard|4 Edit Edit dashboard|8 Delete Delete dashboard|16 ManagePermissions ManagePermissions|32 MaterializeDashboards Materialize Dashboards"},
	{id: "a39371cf-0841-4c16-bbd3-276e341bc052", name: "VersionControlItems", separator: "/", read: 1, write: 1024, dataspace: "VersionControl",
		actions: tfvcActions},
}

const tfvcActions = "1 Read Read|2 PendChange Pend a change in a server workspace|4 Checkin Check in|8 Label Label|16 Lock Lock|" +
	"32 ReviseOther Revise other users' changes|64 UnlockOther Unlock other users' changes|128 UndoOther Undo other users' changes|" +
	"256 LabelOther Administer labels|1024 AdminProjectRights Manage permissions|2048 CheckinOther Check in other users' changes|" +
	"4096 Merge Merge|8192 ManageBranch Manage branch"

// defaultACLs are the namespaces the service fills for every organization
// and project (security_defaults.go).
var defaultACLs = map[string]func(*aclView){
	nsProject: projectDefaults, nsGit: gitDefaults, nsBuild: buildDefaults, nsRelease: releaseDefaults,
	nsIdentity: identityDefaults, nsCSS: areaDefaults, nsIteration: iterationDefaults,
	nsEndpoints: endpointDefaults, nsCollection: collectionDefaults,
}

// securityNamespaces is the catalog, parsed once.
var securityNamespaces = func() []*securityNamespace {
	out := make([]*securityNamespace, 0, len(securityCatalog))
	for _, e := range securityCatalog {
		ns := &securityNamespace{id: e.id, name: e.name, separator: e.separator, read: e.read, write: e.write,
			dataspace: e.dataspace, flat: e.flat, extension: e.extension, remotable: e.remotable, translator: e.translator,
			defaults: defaultACLs[e.id]}
		for _, item := range strings.Split(e.actions, "|") {
			bit, rest, _ := strings.Cut(item, " ")
			name, display, _ := strings.Cut(rest, " ")
			b, err := strconv.Atoi(bit)
			if err != nil || name == "" || display == "" {
				panic("security catalog: bad action " + item + " in " + e.name)
			}
			ns.actions = append(ns.actions, secAction{bit: b, name: name, display: display})
		}
		out = append(out, ns)
	}
	return out
}()
