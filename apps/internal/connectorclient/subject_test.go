package connectorclient

import "testing"

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // pkix.Name.String(), empty for an error
	}{
		{"CN=app-1,OU=APPLICATION,O=acme", "CN=app-1,OU=APPLICATION,O=acme"},
		{"CN=app-1, OU=APPLICATION, O=acme", "CN=app-1,OU=APPLICATION,O=acme"},
		{"O=acme,OU=RUNTIME,CN=rt,C=DE,L=Waldorf", "CN=rt,OU=RUNTIME,O=acme,L=Waldorf,C=DE"},
		{"CN=a\\,b,O=acme", ""},
		{"CN=a+OU=b", ""},
		{"CN=", ""},
		{"X=1", ""},
		{"", ""},
	} {
		n, err := parseSubject(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: parsed as %q, want an error", tc.in, n)
		case tc.want != "" && (err != nil || n.String() != tc.want):
			t.Errorf("%q: %q %v, want %q", tc.in, n, err, tc.want)
		}
	}
}
