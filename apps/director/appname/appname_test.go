package appname_test

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/appname"
)

func TestNormalize(t *testing.T) {
	// Compass's normalizer cases (each gives mp-test-application), then names of our own.
	var tests []struct{ in, want string }
	for _, in := range []string{"tEsT-ApPlIcAtIoN", "test.application", "test$application", "test@application",
		"test%.-&application", "!@#$%test-application", "test-application&*^%", "[test@application]",
		"---test---application---", "test-application-", "---tEsT@ApPlIcAtIoN.!$", "test-application",
		"mp-test-application"} {
		tests = append(tests, struct{ in, want string }{in, "mp-test-application"})
	}
	tests = append(tests, []struct{ in, want string }{
		{"wordpress", "mp-wordpress"},
		{"app@wordpress", "mp-app-wordpress"},
		{"My Application", "mp-my-application"},
		{"MP-Upper", "mp-mp-upper"},
		{"mp-not_normal", "mp-mp-not-normal"},
		{"ünïcode", "mp-n-code"},
	}...)
	for _, tt := range tests {
		if got := appname.Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestForRuntime(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]any
		want   string
	}{
		{"no label: normalized, as in Compass", nil, "mp-app-wordpress"},
		{"true", map[string]any{appname.IsNormalizedLabel: "true"}, "mp-app-wordpress"},
		{"boolean true", map[string]any{appname.IsNormalizedLabel: true}, "mp-app-wordpress"},
		{"false", map[string]any{appname.IsNormalizedLabel: "false"}, "app@wordpress"},
		{"boolean false", map[string]any{appname.IsNormalizedLabel: false}, "app@wordpress"},
		{"anything else", map[string]any{appname.IsNormalizedLabel: "yes"}, "app@wordpress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appname.ForRuntime("app@wordpress", tt.labels); got != tt.want {
				t.Fatalf("ForRuntime = %q, want %q", got, tt.want)
			}
		})
	}
}
