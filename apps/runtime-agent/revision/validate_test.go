package revision_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func httpBinding(name string) revision.Binding {
	return revision.Binding{Name: name, Type: "bindings.http", Metadata: []revision.Item{{Name: "url", Value: "http://localhost:9999/logs"}}}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bindings []revision.Binding
		reserved []string
		wantErr  string // substring; empty means valid
	}{
		{name: "empty revision", bindings: nil},
		{name: "valid http", bindings: []revision.Binding{httpBinding("logging")}},
		{name: "required value from secret metadata", bindings: []revision.Binding{{
			Name: "db", Type: "bindings.postgresql", SecretMetadata: []revision.Item{{Name: "connectionString", Value: "host=db"}},
		}}},
		{name: "metadata names are case-insensitive", bindings: []revision.Binding{{
			Name: "logging", Type: "bindings.http", Metadata: []revision.Item{{Name: "URL", Value: "http://x"}},
		}}},
		{name: "empty name", bindings: []revision.Binding{httpBinding("")}, wantErr: "name is empty"},
		{name: "upper-case name", bindings: []revision.Binding{httpBinding("Logging")}, wantErr: "DNS label"},
		{name: "name with a slash", bindings: []revision.Binding{httpBinding("a/b")}, wantErr: "DNS label"},
		{name: "name too long", bindings: []revision.Binding{httpBinding(strings.Repeat("a", 64))}, wantErr: "DNS label"},
		{name: "duplicate", bindings: []revision.Binding{httpBinding("a"), httpBinding("a")}, wantErr: "duplicate name"},
		{name: "reserved", bindings: []revision.Binding{httpBinding("store")}, reserved: []string{"store"}, wantErr: "reserved"},
		{name: "unknown type", bindings: []revision.Binding{{Name: "x", Type: "bindings.nope"}}, wantErr: "unknown type"},
		{name: "state store is not a binding the agent writes", bindings: []revision.Binding{{Name: "x", Type: "state.redis"}}, wantErr: "unknown type"},
		{name: "missing required", bindings: []revision.Binding{{Name: "x", Type: "bindings.http"}}, wantErr: `needs metadata "url"`},
		{name: "blank required", bindings: []revision.Binding{{Name: "x", Type: "bindings.cron", Metadata: []revision.Item{{Name: "schedule", Value: " "}}}}, wantErr: `needs metadata "schedule"`},
		{name: "bad url", bindings: []revision.Binding{{Name: "x", Type: "bindings.http", Metadata: []revision.Item{{Name: "url", Value: "localhost:80"}}}}, wantErr: "absolute http"},
		{name: "same metadata twice", bindings: []revision.Binding{{
			Name: "x", Type: "bindings.http",
			Metadata:       []revision.Item{{Name: "url", Value: "http://x"}},
			SecretMetadata: []revision.Item{{Name: "url", Value: "http://y"}},
		}}, wantErr: "given twice"},
		{name: "bad metadata name", bindings: []revision.Binding{{
			Name: "x", Type: "bindings.http", Metadata: []revision.Item{{Name: "url", Value: "http://x"}, {Name: "a:b", Value: "1"}},
		}}, wantErr: `metadata name "a:b"`},
		{name: "bad scope", bindings: []revision.Binding{{
			Name: "x", Type: "bindings.http", Metadata: []revision.Item{{Name: "url", Value: "http://x"}}, Scopes: []string{"a b"},
		}}, wantErr: "not a valid app ID"},
		{name: "alias of a required name", bindings: []revision.Binding{{
			Name: "b", Type: "bindings.gcp.bucket", Metadata: []revision.Item{{Name: "bucket", Value: "x"}, {Name: "project_id", Value: "p"}},
		}}},
		{name: "gcp bucket needs a project", bindings: []revision.Binding{{
			Name: "b", Type: "bindings.gcp.bucket", Metadata: []revision.Item{{Name: "bucket", Value: "x"}},
		}}, wantErr: `needs metadata "projectID"`},
		{name: "version", bindings: []revision.Binding{{
			Name: "x", Type: "bindings.cron", Version: "1.0", Metadata: []revision.Item{{Name: "schedule", Value: "@every 1s"}},
		}}, wantErr: `version "1.0"`},
		{name: "kafka needs authType", bindings: []revision.Binding{{
			Name: "k", Type: "bindings.kafka", Metadata: []revision.Item{{Name: "brokers", Value: "localhost:9092"}},
		}}, wantErr: `needs metadata "authType"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := revision.Revision{Number: 1, Bindings: tc.bindings, SecretsIncluded: true}.Validate(tc.reserved...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			case err != nil && !errors.Is(err, revision.ErrInvalid):
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := revision.Revision{Bindings: []revision.Binding{{Name: "A", Type: "bindings.http"}, {Name: "b", Type: "x"}}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"DNS label", `needs metadata "url"`, "unknown type"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestValidateRefusesSecretsLeftOut(t *testing.T) {
	rev := revision.Revision{RuntimeID: "rt-1", Number: 2, Bindings: []revision.Binding{{
		Name: "db", Type: "bindings.postgresql", SecretMetadata: []revision.Item{{Name: "connectionString"}},
	}}}
	err := rev.Validate()
	if !errors.Is(err, revision.ErrInvalid) || !strings.Contains(err.Error(), "secretsIncluded is false") {
		t.Fatalf("err %v, want a refusal: the agent would write an empty secret", err)
	}
	rev.SecretsIncluded = true
	rev.Bindings[0].SecretMetadata[0].Value = "host=db"
	if err := rev.Validate(); err != nil {
		t.Fatal(err)
	}
}
