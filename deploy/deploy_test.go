package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ado-access/ado-access/internal/schedule"
)

// shipped maps the shipped jobs' names to their schedules.
func shipped(t *testing.T) map[string]string {
	t.Helper()
	jobs, err := schedule.Load("../schedules", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range jobs {
		out[j.Name] = j.Schedule
	}
	return out
}

// docs reads every YAML document of a manifest file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

// at walks a parsed document: at(d, "spec", "jobTemplate", …); a number
// indexes a list.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %v is not a mapping", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: %v is not a list of %d", path, v, k+1)
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// podChecks are what every pod of ours must have: non-root, no privilege
// escalation, a read-only root, the store on /data, and no secret in an
// environment value.
func podChecks(t *testing.T, name string, pod any) map[string]any {
	t.Helper()
	if at(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod does not require a non-root user", name)
	}
	c := at(t, pod, "containers", 0).(map[string]any)
	if at(t, c, "securityContext", "allowPrivilegeEscalation") != false || at(t, c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Errorf("%s: container may escalate privileges or write its root", name)
	}
	mounts := map[string]string{}
	for _, m := range at(t, c, "volumeMounts").([]any) {
		mounts[at(t, m, "mountPath").(string)] = at(t, m, "name").(string)
	}
	if mounts["/data"] == "" || mounts["/tmp"] == "" || c["workingDir"] != "/data" {
		t.Errorf("%s: want /data (the working folder) and /tmp mounted, got %v, workingDir %v", name, mounts, c["workingDir"])
	}
	if env, ok := c["env"].([]any); ok {
		for _, e := range env {
			if n := at(t, e, "name").(string); strings.Contains(n, "PAT") || strings.Contains(n, "SECRET") {
				t.Errorf("%s: secret-looking variable %s in plain env", name, n)
			}
		}
	}
	return c
}

func volumes(t *testing.T, pod any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, v := range at(t, pod, "volumes").([]any) {
		out[at(t, v, "name").(string)] = v.(map[string]any)
	}
	return out
}

// kinds maps the shipped jobs' names to their kinds.
func kinds(t *testing.T) map[string]string {
	t.Helper()
	jobs, err := schedule.Load("../schedules", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range jobs {
		out[j.Name] = j.Kind
	}
	return out
}

// callsAzureDevOps reports whether a job of this kind reaches Azure DevOps
// (and so needs its credential).
func callsAzureDevOps(kind string) bool {
	return kind == schedule.KindSync || kind == schedule.KindApplyPlan || kind == schedule.KindPipeline
}

// One CronJob per shipped job, on the job's schedule, never overlapping,
// with the store on the PVC; the jobs that call Azure DevOps read the PAT
// from the Secret as a file, and the others never mount it (issue 19,
// item 15).
func TestKubernetesCronJobs(t *testing.T) {
	jobs := shipped(t)
	kindOf := kinds(t)
	seen := map[string]bool{}
	var pvc string
	for _, d := range docs(t, "kubernetes/pvc.yaml") {
		if d["kind"] == "PersistentVolumeClaim" {
			pvc = at(t, d, "metadata", "name").(string)
		}
	}
	for _, d := range docs(t, "kubernetes/cronjobs.yaml") {
		if d["kind"] != "CronJob" || d["apiVersion"] != "batch/v1" {
			t.Fatalf("unexpected %v %v", d["apiVersion"], d["kind"])
		}
		name := at(t, d, "metadata", "name").(string)
		spec := at(t, d, "spec")
		pod := at(t, spec, "jobTemplate", "spec", "template", "spec")
		c := podChecks(t, name, pod)
		args := strs(c["args"])
		if len(args) < 2 || args[0] != "run" {
			t.Fatalf("%s: args %v, want run JOB", name, args)
		}
		job := args[1]
		seen[job] = true
		if want, ok := jobs[job]; !ok {
			t.Errorf("%s runs %s, which is not a shipped job", name, job)
		} else if at(t, spec, "schedule") != want || at(t, spec, "timeZone") != "Etc/UTC" {
			t.Errorf("%s: schedule %v in %v, want %q in UTC as in schedules/", name, at(t, spec, "schedule"), at(t, spec, "timeZone"), want)
		}
		if at(t, spec, "concurrencyPolicy") != "Forbid" {
			t.Errorf("%s: concurrencyPolicy %v, want Forbid", name, at(t, spec, "concurrencyPolicy"))
		}
		if at(t, pod, "restartPolicy") != "Never" {
			t.Errorf("%s: restartPolicy must be Never (podFailurePolicy needs it)", name)
		}
		rule := at(t, spec, "jobTemplate", "spec", "podFailurePolicy", "rules", 0)
		if at(t, rule, "action") != "FailJob" || at(t, rule, "onExitCodes", "values", 0) != 2 {
			t.Errorf("%s: exit 2 (bad configuration) must fail the Job without retries", name)
		}
		i := slices.Index(args, "--pat-file")
		vols := volumes(t, pod)
		if !callsAzureDevOps(kindOf[job]) {
			for vname, v := range vols {
				if v["secret"] != nil {
					t.Errorf("%s: a %s job never calls Azure DevOps, yet mounts the Secret %v (volume %s)", name, kindOf[job], at(t, v, "secret", "secretName"), vname)
				}
			}
			if i >= 0 {
				t.Errorf("%s: a %s job is given --pat-file", name, kindOf[job])
			}
		} else {
			if i < 0 || i+1 >= len(args) {
				t.Fatalf("%s: no --pat-file", name)
			}
			patMount := ""
			for _, m := range at(t, c, "volumeMounts").([]any) {
				if strings.HasPrefix(args[i+1], at(t, m, "mountPath").(string)+"/") {
					patMount = at(t, m, "name").(string)
				}
			}
			if sec := vols[patMount]["secret"]; sec == nil || at(t, sec, "secretName") != "ado-access-pat" {
				t.Errorf("%s: --pat-file %s is not on the Secret ado-access-pat", name, args[i+1])
			}
		}
		if at(t, vols["data"], "persistentVolumeClaim", "claimName") != pvc {
			t.Errorf("%s: the store is not on the PVC %s", name, pvc)
		}
		if ref := at(t, c, "envFrom", 0, "configMapRef", "name"); ref != "ado-access" {
			t.Errorf("%s: envFrom %v", name, ref)
		}
	}
	for job := range jobs {
		if !seen[job] {
			t.Errorf("no CronJob runs the shipped job %s", job)
		}
	}
	cm := docs(t, "kubernetes/config.yaml")[0]
	if at(t, cm, "data", "EXPORTER_DB") != "/data/ado-access.db" || at(t, cm, "data", "ADO_ORG_URL") == nil {
		t.Errorf("ConfigMap: %v", cm["data"])
	}
	for _, v := range cm["data"].(map[string]any) {
		if strings.Contains(v.(string), "sig=") {
			t.Error("the ConfigMap holds a SAS")
		}
	}
}

// The scheduler: one replica that is never doubled, probes on /healthz at
// the --listen port, a termination grace longer than --grace.
func TestKubernetesScheduler(t *testing.T) {
	ds := docs(t, "kubernetes/scheduler.yaml")
	var dep, svc map[string]any
	for _, d := range ds {
		switch d["kind"] {
		case "Deployment":
			dep = d
		case "Service":
			svc = d
		}
	}
	if dep == nil || svc == nil {
		t.Fatal("want a Deployment and a Service")
	}
	if at(t, dep, "spec", "replicas") != 1 || at(t, dep, "spec", "strategy", "type") != "Recreate" {
		t.Error("the scheduler must run one replica, replaced with Recreate")
	}
	pod := at(t, dep, "spec", "template", "spec")
	c := podChecks(t, "scheduler", pod)
	args := strs(c["args"])
	if args[0] != "schedule" {
		t.Fatalf("args %v", args)
	}
	flag := func(name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("args %v lack %s", args, name)
		}
		return args[i+1]
	}
	port := at(t, c, "ports", 0, "containerPort").(int)
	if flag("--listen") != ":9090" || port != 9090 {
		t.Errorf("--listen %s, containerPort %d", flag("--listen"), port)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if at(t, c, probe, "httpGet", "path") != "/healthz" || at(t, c, probe, "httpGet", "port") != "metrics" {
			t.Errorf("%s is not on /healthz at the metrics port", probe)
		}
	}
	grace, err := schedule.ParseDuration(flag("--grace"))
	if err != nil {
		t.Fatal(err)
	}
	if tg := at(t, pod, "terminationGracePeriodSeconds").(int); float64(tg) <= grace.Seconds()+10 {
		t.Errorf("terminationGracePeriodSeconds %d leaves no room after --grace %s", tg, grace)
	}
	if at(t, svc, "spec", "ports", 0, "targetPort") != "metrics" || at(t, svc, "metadata", "annotations", "prometheus.io/path") != "/metrics" {
		t.Error("the Service does not expose /metrics")
	}
}

// No two manifests name the same object: applying one file must never
// replace what another made (issue 19, item 15: the state-blob CronJob
// took the name of cronjobs.yaml's hourly sync). The ServiceAccount
// ado-access and the ConfigMap are each defined once.
func TestKubernetesNamesAreUnique(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	seen := map[string]string{}
	for _, f := range files {
		for _, d := range docs(t, f) {
			key := fmt.Sprintf("%v/%v", d["kind"], at(t, d, "metadata", "name"))
			if other, dup := seen[key]; dup {
				t.Errorf("%s is defined in %s and %s: applying one replaces the other", key, other, f)
			}
			seen[key] = f
		}
	}
}

// The state-blob variant: no PVC, Entra workload identity, --state a blob
// URL without a SAS.
func TestKubernetesStateBlob(t *testing.T) {
	jobs := shipped(t)
	var sa, cj map[string]any
	for _, d := range docs(t, "kubernetes/cronjob-state-blob.yaml") {
		switch d["kind"] {
		case "ServiceAccount":
			sa = d
		case "CronJob":
			cj = d
		}
	}
	if sa == nil || cj == nil || at(t, sa, "metadata", "annotations", "azure.workload.identity/client-id") == nil {
		t.Fatal("want a ServiceAccount for workload identity and a CronJob")
	}
	pod := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec")
	c := podChecks(t, "state-blob", pod)
	args := strs(c["args"])
	if at(t, cj, "spec", "concurrencyPolicy") != "Forbid" || at(t, cj, "spec", "schedule") != jobs[args[1]] {
		t.Errorf("CronJob schedule/concurrency: %v", at(t, cj, "spec"))
	}
	i := slices.Index(args, "--state")
	if i < 0 || !strings.HasPrefix(args[i+1], "https://") || strings.Contains(args[i+1], "?") {
		t.Errorf("--state %v: want a blob URL without a SAS", args)
	}
	if !slices.Contains(args, "entra") || at(t, pod, "serviceAccountName") != "ado-access" ||
		at(t, cj, "spec", "jobTemplate", "spec", "template", "metadata", "labels", "azure.workload.identity/use") != "true" {
		t.Error("the pod does not use workload identity")
	}
	if v := volumes(t, pod)["data"]; v["emptyDir"] == nil {
		t.Errorf("data volume %v: want an emptyDir (the store's home is the blob)", v)
	}
}

// The Container Apps template (ARM JSON, the form a test can parse: no
// Bicep compiler is at hand) and its Bicep source agree, and schedule the
// shipped jobs with a timeout, retries, a managed identity and the state
// blob.
func TestContainerAppsJob(t *testing.T) {
	jobs := shipped(t)
	b, err := os.ReadFile("containerapps/job.json")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	params := at(t, tmpl, "parameters").(map[string]any)
	list := at(t, params, "jobs", "defaultValue").([]any)
	if len(list) != len(jobs) {
		t.Errorf("%d jobs in the template, %d shipped", len(list), len(jobs))
	}
	timeouts := map[string]float64{}
	for _, j := range list {
		name, cron := at(t, j, "name").(string), at(t, j, "cron").(string)
		if jobs[name] != cron {
			t.Errorf("template job %s at %q; schedules/ says %q", name, cron, jobs[name])
		}
		timeouts[name], _ = j.(map[string]any)["timeout"].(float64)
	}
	// Each job its own timeout, the weekly full sync the longest, as the
	// CronJobs' activeDeadlineSeconds (issue 19, item 15).
	deadlines := map[string]float64{}
	for _, d := range docs(t, "kubernetes/cronjobs.yaml") {
		pod := at(t, d, "spec", "jobTemplate", "spec", "template", "spec")
		args := strs(at(t, pod, "containers", 0, "args"))
		deadlines[args[1]] = float64(at(t, d, "spec", "jobTemplate", "spec", "activeDeadlineSeconds").(int))
	}
	for name, tmo := range timeouts {
		if tmo != deadlines[name] {
			t.Errorf("template job %s: timeout %v s, the CronJob's activeDeadlineSeconds %v", name, tmo, deadlines[name])
		}
	}
	if timeouts["weekly-full-sync"] <= timeouts["hourly-sync"] {
		t.Errorf("the weekly full sync's timeout %v s is not longer than the hourly sync's %v s", timeouts["weekly-full-sync"], timeouts["hourly-sync"])
	}
	var job map[string]any
	for _, r := range at(t, tmpl, "resources").([]any) {
		if at(t, r, "type") == "Microsoft.App/jobs" {
			job = r.(map[string]any)
		}
	}
	if job == nil {
		t.Fatal("no Microsoft.App/jobs resource")
	}
	cfg := at(t, job, "properties", "configuration")
	if at(t, cfg, "triggerType") != "Schedule" ||
		at(t, cfg, "scheduleTriggerConfig", "cronExpression") != "[parameters('jobs')[copyIndex()].cron]" ||
		at(t, cfg, "scheduleTriggerConfig", "parallelism") != 1.0 ||
		at(t, cfg, "replicaTimeout") != "[if(contains(parameters('jobs')[copyIndex()], 'timeout'), parameters('jobs')[copyIndex()].timeout, parameters('replicaTimeout'))]" ||
		at(t, cfg, "registries") != "[if(empty(parameters('registryServer')), createArray(), createArray(createObject('server', parameters('registryServer'), 'identity', parameters('identityId'))))]" ||
		at(t, cfg, "replicaRetryLimit") != "[parameters('replicaRetryLimit')]" {
		t.Errorf("job configuration: %v", cfg)
	}
	if at(t, params, "replicaTimeout", "defaultValue").(float64) < 600 || at(t, params, "replicaRetryLimit", "defaultValue").(float64) < 1 {
		t.Error("replicaTimeout or replicaRetryLimit defaults are too small")
	}
	if at(t, job, "identity", "type") != "UserAssigned" {
		t.Error("the jobs do not run as a managed identity")
	}
	c := at(t, job, "properties", "template", "containers", 0)
	args := strs(at(t, c, "args"))
	if want := []string{"run", "[parameters('jobs')[copyIndex()].name]", "--auth", "entra", "--state", "[variables('stateUrl')]"}; !slices.Equal(args, want) {
		t.Errorf("args %v, want %v", args, want)
	}
	env := map[string]string{}
	for _, e := range at(t, c, "env").([]any) {
		env[at(t, e, "name").(string)] = at(t, e, "value").(string)
	}
	if env["AZURE_CLIENT_ID"] == "" || env["ADO_ORG_URL"] == "" || env["ADO_PAT"] != "" {
		t.Errorf("env %v", env)
	}
	if !strings.Contains(at(t, tmpl, "variables", "stateUrl").(string), ".blob.") {
		t.Error("the state is not a blob URL")
	}

	// The Bicep source: the same parameters, jobs and key properties. This
	// reads it as text (no Bicep compiler here), so it checks only that
	// the two files name the same things.
	bicep, err := os.ReadFile("containerapps/job.bicep")
	if err != nil {
		t.Fatal(err)
	}
	src := string(bicep)
	var bparams []string
	for _, m := range regexp.MustCompile(`(?m)^param (\w+) `).FindAllStringSubmatch(src, -1) {
		bparams = append(bparams, m[1])
	}
	var jparams []string
	for p := range params {
		jparams = append(jparams, p)
	}
	slices.Sort(bparams)
	slices.Sort(jparams)
	if !slices.Equal(bparams, jparams) {
		t.Errorf("Bicep parameters %v, ARM parameters %v", bparams, jparams)
	}
	for name, cron := range jobs {
		if !strings.Contains(src, fmt.Sprintf("{ name: '%s', cron: '%s', timeout: %d }", name, cron, int(timeouts[name]))) {
			t.Errorf("job.bicep lacks the job %s at %q", name, cron)
		}
	}
	for _, want := range []string{"triggerType: 'Schedule'", "replicaTimeout: j.?timeout ?? replicaTimeout", "replicaRetryLimit: replicaRetryLimit",
		"registries: empty(registryServer) ? [] : [", "{ server: registryServer, identity: identityId }",
		"cronExpression: j.cron", "type: 'UserAssigned'", "'--state'", "stateUrl", "'entra'", "Microsoft.App/jobs@2024-03-01", "parallelism: 1"} {
		if !strings.Contains(src, want) {
			t.Errorf("job.bicep lacks %q", want)
		}
	}
}

// The image: multi-stage, static, non-root, the shipped schedules where
// EXPORTER_SCHEDULES points, the scheduler by default.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "USER nonroot", `ENTRYPOINT ["/exporter"]`, `CMD ["schedule"]`,
		"ENV EXPORTER_SCHEDULES=/etc/exporter/schedules", "/src/schedules/*.yaml /etc/exporter/schedules/", "EXPOSE 9090",
		"WORKDIR /data", "ENV EXPORTER_DB=/data/ado-access.db", `VOLUME ["/data"]`, "--chown=nonroot:nonroot /out/data /data"} {
		if !strings.Contains(src, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The build context leaves out what the image never needs: history,
	// tools, builds, stores and demo output.
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	for _, want := range []string{".git", ".tools", "bin", "demo-out", "*.db", "*.db-wal"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	if strings.Count(src, "\nFROM ") < 1 || !strings.HasPrefix(strings.TrimSpace(src[strings.LastIndex(src, "\nFROM "):]), "FROM gcr.io/distroless/static") {
		t.Error("the final stage is not distroless/static")
	}
}
