// Package deploy holds no code: it is the home of the deployment manifests
// (containerapps/, kubernetes/) and of the tests that check them against
// the shipped schedules, since no cluster is at hand to apply them.
package deploy
