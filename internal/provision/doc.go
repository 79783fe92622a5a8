// Package provision turns reviewers' decisions into changes in Azure DevOps:
// decisions in (a filled-in packet or a plan file), a plan checked against the
// newest snapshot (satisfied items skipped, stale ones refused), a dry run,
// then apply, with every action journaled in the store so an interrupted apply
// resumes and a repeated one does nothing. Safety rails live here too: it
// never applies anything without a plan that was shown.
package provision
