package revision

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// ErrInvalid marks a revision the agent refuses to apply. Nothing is written for such a revision: a Dapr
// sidecar shuts down when a component fails to initialise, so a bad value caught here is an outage avoided.
var ErrInvalid = errors.New("invalid revision")

// componentType describes what a binding type needs to initialise (components-contrib v1.16.5; the changes
// up to v1.18.0, which daprd 1.18.1 uses, add no such metadata for these types, only per-operation fields and
// new auth profiles): the metadata without which Init fails at once, and an optional check of their values.
type componentType struct {
	required []string
	check    func(values map[string]string) error
}

// knownTypes is the set of component types the agent writes, the same as the Governor's bindingTypes
// (both read from components-contrib v1.16.5, rechecked against v1.18.0). A type earns its place once someone has checked what its
// Init insists on; anything else is refused rather than risked. "a|b" accepts either name (aliases).
var knownTypes = map[string]componentType{
	"bindings.aws.s3":                  {required: []string{"bucket"}},
	"bindings.aws.sns":                 {required: []string{"topicArn"}},
	"bindings.aws.sqs":                 {required: []string{"queueName"}},
	"bindings.azure.blobstorage":       {required: []string{"containerName"}},
	"bindings.azure.servicebus.queues": {required: []string{"queueName"}},
	"bindings.azure.storagequeues":     {required: []string{"accountName", "queueName"}},
	"bindings.cron":                    {required: []string{"schedule"}},
	"bindings.gcp.bucket":              {required: []string{"bucket", "projectID|project_id"}},
	"bindings.gcp.pubsub":              {required: []string{"topic"}},
	"bindings.graphql":                 {required: []string{"endpoint"}, check: checkHTTPURL("endpoint")},
	"bindings.http":                    {required: []string{"url"}, check: checkHTTPURL("url")},
	"bindings.kafka":                   {required: []string{"brokers", "authType"}},
	"bindings.kubernetes":              {},
	"bindings.localstorage":            {required: []string{"rootPath"}},
	"bindings.mqtt3":                   {required: []string{"url", "topic", "consumerID"}},
	"bindings.mysql":                   {required: []string{"url"}},
	"bindings.postgresql":              {required: []string{"connectionString"}},
	"bindings.postgres":                {required: []string{"connectionString"}},
	"bindings.rabbitmq":                {required: []string{"host", "queueName"}},
	"bindings.redis":                   {required: []string{"redisHost"}},
	"bindings.sftp":                    {required: []string{"address", "rootPath"}},
	"bindings.smtp":                    {required: []string{"host", "port"}},
	"bindings.twilio.sendgrid":         {required: []string{"apiKey"}},
	"bindings.twilio.sms":              {required: []string{"accountSid", "authToken", "fromNumber"}},
}

// KnownTypes lists the component types the agent accepts, sorted.
func KnownTypes() []string {
	out := make([]string, 0, len(knownTypes))
	for t := range knownTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

var (
	// Component names end up as Kubernetes object names and file names, and in sidecar URLs
	// (/v1.0/bindings/<name>): a DNS-1123 label is safe everywhere.
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// Metadata names double as keys of Kubernetes Secrets and of the local secrets file.
	itemRE = regexp.MustCompile(`^[A-Za-z0-9][-._A-Za-z0-9]*$`)
	// Scopes are Dapr app IDs.
	scopeRE = regexp.MustCompile(`^[A-Za-z0-9][-._A-Za-z0-9]*$`)
	// Component versions: v1, v2, ...
	versionRE = regexp.MustCompile(`^v[0-9]+$`)
)

// MaxNameLength leaves room for the agent's prefixes on Kubernetes object names (253) and stays within a
// DNS label, which is what Dapr's own validation of Kubernetes components expects.
const MaxNameLength = 63

// Validate checks everything the agent can check before writing: names, known types, required metadata,
// duplicates. reserved names (the agent's own secret store) may not be used by bindings. All problems
// are reported together, wrapped in ErrInvalid.
func (r Revision) Validate(reserved ...string) error {
	var errs []error
	seen := map[string]bool{}
	for i, b := range r.Bindings {
		if len(b.SecretMetadata) > 0 && !r.SecretsIncluded {
			errs = append(errs, fmt.Errorf("binding %d (%q): the Governor left out the secret values (secretsIncluded is false): "+
				"is the agent authenticated as runtime %s?", i, b.Name, r.RuntimeID))
		}
		where := fmt.Sprintf("binding %d (%q)", i, b.Name)
		switch {
		case b.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is empty", where))
		case len(b.Name) > MaxNameLength || !nameRE.MatchString(b.Name):
			errs = append(errs, fmt.Errorf("%s: name must be a DNS label: lowercase letters, digits and '-', at most %d characters", where, MaxNameLength))
		case seen[b.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		case slices.Contains(reserved, b.Name):
			errs = append(errs, fmt.Errorf("%s: the name is reserved for the agent's own component", where))
		}
		seen[b.Name] = true
		errs = append(errs, b.validate(where)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func (b Binding) validate(where string) []error {
	var errs []error
	values := map[string]string{}
	for _, list := range [][]Item{b.Metadata, b.SecretMetadata} {
		for _, it := range list {
			if !itemRE.MatchString(it.Name) {
				errs = append(errs, fmt.Errorf("%s: metadata name %q: use letters, digits, '-', '_' or '.'", where, it.Name))
				continue
			}
			// Dapr matches metadata names case-insensitively, so "URL" and "url" would collide there.
			key := strings.ToLower(it.Name)
			if _, dup := values[key]; dup {
				errs = append(errs, fmt.Errorf("%s: metadata %q given twice", where, it.Name))
				continue
			}
			values[key] = it.Value
		}
	}
	if b.Version != "" && !versionRE.MatchString(b.Version) {
		errs = append(errs, fmt.Errorf("%s: version %q: want v1, v2, ...", where, b.Version))
	}
	for _, s := range b.Scopes {
		if !scopeRE.MatchString(s) {
			errs = append(errs, fmt.Errorf("%s: scope %q is not a valid app ID", where, s))
		}
	}
	t, ok := knownTypes[b.Type]
	if !ok {
		return append(errs, fmt.Errorf("%s: unknown type %q (known: %s)", where, b.Type, strings.Join(KnownTypes(), ", ")))
	}
	for _, req := range t.required {
		names := strings.Split(req, "|")
		if !slices.ContainsFunc(names, func(n string) bool { return strings.TrimSpace(values[strings.ToLower(n)]) != "" }) {
			errs = append(errs, fmt.Errorf("%s: %s needs metadata %q", where, b.Type, names[0]))
		}
	}
	if t.check != nil && len(errs) == 0 {
		if err := t.check(values); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errs
}

// checkHTTPURL requires the named metadata (already known to be set) to be an absolute http(s) URL.
func checkHTTPURL(name string) func(map[string]string) error {
	return func(values map[string]string) error {
		raw := values[strings.ToLower(name)]
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("metadata %q must be an absolute http or https URL, got %q", name, raw)
		}
		return nil
	}
}
