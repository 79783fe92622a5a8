package snapshot

import "database/sql"

// ACLTokens lists the tokens of the current ACLs of a namespace at token
// and below it (by the namespace's separator sep; token "" lists them all),
// as this run sees them: an incremental run that re-read a token closes
// the ACLs there that are gone.
func (w *Writer) ACLTokens(namespace, token, sep string) ([]string, error) {
	if sep == "" && token != "" {
		sep = "\x00" // a flat namespace: no token is below another
	}
	rows, err := w.tx.QueryContext(w.ctx, Query("acl_tokens_under"),
		sql.Named("ns", namespace), sql.Named("token", token), sql.Named("sep", sep))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
