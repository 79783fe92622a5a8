// Package collect talks to Azure DevOps and feeds the snapshot store. It owns
// paging and continuation tokens, retries and rate limits (as a chain of
// http.RoundTrippers), and both sync modes: full, which reads everything and
// reconciles it against the current rows, and incremental, which reads the
// Audit Log from the stored cursor and re-reads only what the entries touched,
// falling back to full when it must. One collector per resource kind sits
// behind one interface with a full read and a targeted re-read by keys. It
// writes nothing except through the store.
package collect
