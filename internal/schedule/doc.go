// Package schedule runs the exporter unattended: it reads the job
// definitions in schedules/*.yaml, runs one job once (exporter run JOB,
// for Azure Container Apps jobs and Kubernetes CronJobs), runs every job
// on its cron schedule in a long-running daemon (exporter schedule), and
// keeps the SQLite store in Azure Blob Storage between runs when the
// container is thrown away, under a blob lease so that two replicas never
// run one store at once.
//
// It does not know how a sync or an export works inside: cmd/exporter
// hands it one Runner per job kind, which calls the same code as the
// sync, export and diff commands. Schedule files hold no secrets; a file
// that looks like it does is refused.
package schedule
