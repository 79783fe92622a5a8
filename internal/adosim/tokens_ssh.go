package adosim

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// SSH public keys. Token Admin lists them through the same request as
// personal access tokens, with isPublic=true ("Set to false for PAT tokens
// and true for SSH tokens", tokenAdmin 7.1), as session tokens of the same
// shape: isPublic true, the public key as publicData (a string in the
// spec; the recorded example, of tokens, has it null), never a private
// key, which the service never holds. Revocations take the same
// authorization ids with isPublic=true. Their Audit Log entries are
// Token.SshCreateEvent and Token.SshRevokeEvent (Microsoft's list of
// auditing events, Token area), with the data shape of the tokens'.

// sshScope is the scope the simulator gives SSH keys: Git over SSH. The
// service's own value is not documented; the sync stores whatever it says.
const sshScope = "vso.code_write"

var sshNames = []string{"laptop", "build box", "workstation", "deploy key", "old laptop"}

// sshNever is how the simulator says an SSH key does not expire: the far
// end of the service's dates.
var sshNever = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// genSSHKeys gives fewer users SSH keys than tokens: one in six of those
// who signed in, one in four of those who left or were disabled, mostly one
// key each, valid for one or two years or without expiry. It draws from a
// generator of its own, so the rest of the organization is what it was
// before SSH keys were generated.
func (g *generator) genSSHKeys() {
	pl := g.o.pipes()
	r := rand.New(rand.NewPCG(uint64(len(g.users)), 0x55b))
	for _, u := range g.users {
		if u.Ent == nil || u.Ent.LastAccessed.IsZero() {
			continue
		}
		share := 6
		if u.DeletedOrigin || u.Ent.Status == "disabled" {
			share = 4
		}
		if r.IntN(share) != 0 {
			continue
		}
		for range 1 + r.IntN(4)/3 {
			from := g.ref.Add(-time.Duration(r.IntN(900)) * 24 * time.Hour)
			to := sshNever
			if life := []int{0, 365, 730}[r.IntN(3)]; life > 0 {
				to = from.Add(time.Duration(life) * 24 * time.Hour)
			}
			pl.pats = append(pl.pats, newSSHKey(r, sshGUID(r), u, sshNames[r.IntN(len(sshNames))], from, to))
		}
	}
}

func newSSHKey(r *rand.Rand, id string, owner *Subject, name string, from, to time.Time) *PAT {
	body := make([]byte, 51) // the size of an ed25519 public key blob
	for i := range body {
		body[i] = byte(r.IntN(256))
	}
	return &PAT{AuthorizationID: id, Owner: owner, DisplayName: name, Scope: sshScope, ValidFrom: from, ValidTo: to,
		SSH: true, PublicKey: "ssh-ed25519 " + base64.StdEncoding.EncodeToString(body) + " " + owner.PrincipalName}
}

func sshGUID(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	a = (a &^ 0xf000) | 0x4000
	b = (b &^ (0xc << 60)) | (0x8 << 60)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xffffffffffff)
}

// CreateSSHKey adds an SSH public key of a user; life 0 is no expiry.
func (o *Org) CreateSSHKey(owner *Subject, name string, life time.Duration) *PAT {
	pl := o.pipes()
	now := o.clock.Now()
	to := sshNever
	if life > 0 {
		to = now.Add(life)
	}
	t := newSSHKey(pl.ids, pl.guid(), owner, name, now, to)
	pl.pats = append(pl.pats, t)
	o.record(now, owner, "Token.SshCreateEvent", fmt.Sprintf("SSH key %q was created", name), nil, o.patData(t))
	return t
}

// RevokeSSHKey revokes an SSH key; the service stops listing it.
func (o *Org) RevokeSSHKey(actor *Subject, authorizationID string) error {
	return o.revokeToken(actor, authorizationID, true)
}

// isPublicParam reads the isPublic query parameter (false when absent).
func isPublicParam(c *call) (bool, bool) {
	v := c.query("isPublic")
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "isPublic must be true or false.")
		return false, false
	}
	return b, true
}

func (m *mutator) sshCreate() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if u == nil {
		return Mutation{}, false
	}
	t := m.o.CreateSSHKey(u, sshNames[m.r.IntN(len(sshNames))], 24*time.Hour*time.Duration([]int{0, 365, 730}[m.r.IntN(3)]))
	return Mutation{ActionID: "Token.SshCreateEvent", Summary: "added an SSH key for " + u.DisplayName, Target: t.AuthorizationID}, true
}

func (m *mutator) sshRevoke() (Mutation, bool) {
	var keys []*PAT
	for _, t := range m.o.pipes().pats {
		if t.SSH {
			keys = append(keys, t)
		}
	}
	if len(keys) == 0 {
		return Mutation{}, false
	}
	t := keys[m.r.IntN(len(keys))]
	_ = m.o.RevokeSSHKey(m.o.admin, t.AuthorizationID)
	return Mutation{ActionID: "Token.SshRevokeEvent", Summary: "revoked an SSH key of " + t.Owner.DisplayName, Target: t.AuthorizationID}, true
}
