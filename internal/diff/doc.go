// Package diff computes the changes between two runs in the snapshot store:
// who gained or lost access, both direct (memberships and entitlements as
// recorded) and effective (through nested groups, with the grant path). It
// reads rows whose validity interval starts or ends between the two runs and
// never mutates the store.
package diff
