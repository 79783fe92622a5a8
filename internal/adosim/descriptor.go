package adosim

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Subject descriptors are "<type>.<unpadded base64url of a payload>". The
// payload is a GUID for users and service principals, a SID (S-1-9-…) for
// groups, and a project or organization id for scopes, as on the service.
func makeDescriptor(subjectType, payload string) string {
	return subjectType + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
}

// descriptorPayload decodes the part after the dot, or returns "" when the
// descriptor is malformed.
func descriptorPayload(d string) (subjectType, payload string, ok bool) {
	i := strings.IndexByte(d, '.')
	if i <= 0 {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(d[i+1:])
	if err != nil {
		return "", "", false
	}
	return d[:i], string(b), true
}

// sidFor builds a stable Azure DevOps group SID from two 64-bit numbers, in
// the shape the service uses: S-1-9-1551374245-a-b-c-d-1-e-f-g-h.
func sidFor(hi, lo uint64) string {
	return fmt.Sprintf("S-1-9-1551374245-%d-%d-%d-%d-1-%d-%d-%d-%d",
		uint32(hi>>32), uint32(hi), uint32(lo>>32), uint32(lo),
		uint32(hi>>16)^uint32(lo), uint32(lo>>16)^uint32(hi), uint32(hi^lo), uint32((hi^lo)>>32))
}

// Legacy identity descriptor prefixes (the IMS "descriptor" field and the
// members of an identity, and the descriptors in access control entries).
const (
	legacyGroup   = "Microsoft.TeamFoundation.Identity"
	legacyClaims  = "Microsoft.IdentityModel.Claims.ClaimsIdentity"
	legacyService = "Microsoft.TeamFoundation.ServiceIdentity"
	legacyAADSP   = "Microsoft.VisualStudio.Services.Claims.AadServicePrincipal"
)
