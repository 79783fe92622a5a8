package export

import "testing"

func TestPrivilegedNamesMatchAzureDevOpsGroupsOnly(t *testing.T) {
	p := newPrivileged([]string{"Project Administrators", "aadgp.Xyz"})
	for _, c := range []struct {
		descriptor, display string
		want                bool
	}{
		{"vssgp.Abc", "Project Administrators", true},
		{"aadgp.Def", "Project Administrators", false}, // an Entra group that borrows the name
		{"aadgp.Xyz", "sg-admins", true},               // named by descriptor
		{"vssgp.Ghi", "Readers", false},
	} {
		if got := p.match(c.descriptor, c.display, "["+c.display+"]"); got != c.want {
			t.Errorf("match(%s, %q) = %v, want %v", c.descriptor, c.display, got, c.want)
		}
	}
}
