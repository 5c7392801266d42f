package bundle

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

var printableASCII = regexp.MustCompile(`^[\x20-\x7e]*$`)

// Client-chosen instance auth ids end up in storage keys, so their alphabet is strict.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkName accepts the names of bundles and definitions: printable ASCII, 1 to 100 characters.
func checkName(path, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return apperr.Invalid("%s: required", path)
	case len(name) > 100:
		return apperr.Invalid("%s: at most 100 characters", path)
	case !printableASCII.MatchString(name):
		return apperr.Invalid("%s: use printable ASCII characters only", path)
	}
	return nil
}

// checkText bounds an optional text to max characters.
func checkText(path string, s *string, max int) error {
	if s != nil && utf8.RuneCountInString(*s) > max {
		return apperr.Invalid("%s: at most %d characters", path, max)
	}
	return nil
}

// checkRequired bounds a required text to 1..max characters.
func checkRequired(path, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return apperr.Invalid("%s: required", path)
	}
	return checkText(path, &s, max)
}

// checkURL accepts absolute http(s) URLs of at most 256 characters: the only ones the Director can call.
func checkURL(path, raw string) error {
	if len(raw) > 256 {
		return apperr.Invalid("%s: at most 256 characters", path)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apperr.Invalid("%s: %q is not an http(s) URL", path, raw)
	}
	return nil
}

// checkFetchURL accepts what checkURL accepts and, as Compass did, a URL without a scheme such as
// "example.com/spec.json", which is fetched over http.
func checkFetchURL(path, raw string) error {
	if !strings.Contains(raw, "://") {
		if u, err := url.Parse("http://" + raw); err == nil && strings.Contains(u.Host, ".") {
			raw = "http://" + raw
		}
	}
	return checkURL(path, raw)
}

// fetchableURL returns the URL a fetch request names, with the http scheme added where it has none.
func fetchableURL(raw string) string {
	if strings.Contains(raw, "://") {
		return raw
	}
	return "http://" + raw
}

// checkJSON accepts an optional JSON document (the JSON scalar travels as a string).
func checkJSON(path string, s *string) error {
	if s != nil && !json.Valid([]byte(*s)) {
		return apperr.Invalid("%s: not valid JSON", path)
	}
	return nil
}

// authFromInput converts credentials a client gave; credentials that are stored to be handed out or used
// later must name a credential, or they would be useless.
func authFromInput(path string, in *model.AuthInput) (*model.Auth, error) {
	if in == nil {
		return nil, nil
	}
	if in.Credential == nil {
		return nil, apperr.Invalid("%s.credential: required", path)
	}
	a, err := model.AuthFromInput(in)
	if err != nil {
		return nil, apperr.Invalid("%s: %v", path, err)
	}
	return a, nil
}

// schemaURL names the instance auth input schema while it is compiled; nothing is ever loaded from it.
const schemaURL = "https://mgmtplane.invalid/bundle/instance-auth-input.schema.json"

// compileSchema compiles a bundle's instanceAuthRequestInputSchema.
func compileSchema(raw string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	// Schemas come from clients: a $ref must not read the Director's files or reach the network, so no
	// loader is given any scheme. The meta-schemas are built into the library.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	// Compass validated with draft-07 (gojsonschema); schemas written for it keep their meaning. A schema
	// that names its draft in $schema gets that one.
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("not a valid JSON schema: %w", err)
	}
	return sch, nil
}

func checkSchema(path string, s *string) error {
	if s == nil {
		return nil
	}
	if _, err := compileSchema(*s); err != nil {
		return apperr.Invalid("%s: %v", path, err)
	}
	return nil
}

// checkInputParams checks an instance auth request's inputParams against the bundle's schema. A bundle
// without a schema sets no rules: as in Compass, any JSON is passed on to the application.
func checkInputParams(schema, params *string) error {
	if schema == nil {
		if params != nil && !json.Valid([]byte(*params)) {
			return apperr.Invalid("inputParams: not valid JSON")
		}
		return nil
	}
	if params == nil {
		return apperr.Invalid("inputParams: required by the bundle's instanceAuthRequestInputSchema")
	}
	sch, err := compileSchema(*schema)
	if err != nil {
		// Schemas are checked when stored; one that fails now is our fault, not the caller's.
		return fmt.Errorf("compile stored input schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(*params))
	if err != nil {
		return apperr.Invalid("inputParams: not valid JSON")
	}
	if err := sch.Validate(v); err != nil {
		return apperr.Invalid("inputParams: do not satisfy the bundle's instanceAuthRequestInputSchema: %v", err)
	}
	return nil
}

// fetchRequestFromInput checks a fetch request and returns it in the INITIAL state. Modes other than
// SINGLE, filters and credentials other than basic are accepted here, as Compass does, and make the
// download itself fail with a status that says why.
func fetchRequestFromInput(path string, in *model.FetchRequestInput, now time.Time) (*model.FetchRequest, error) {
	if in == nil {
		return nil, nil
	}
	if err := checkFetchURL(path+".url", in.URL); err != nil {
		return nil, err
	}
	mode := model.FetchModeSingle
	if in.Mode != nil {
		if !in.Mode.IsValid() {
			return nil, apperr.Invalid("%s.mode: %q is not a fetch mode", path, *in.Mode)
		}
		mode = *in.Mode
	}
	if err := checkText(path+".filter", in.Filter, 256); err != nil {
		return nil, err
	}
	auth, err := authFromInput(path+".auth", in.Auth)
	if err != nil {
		return nil, err
	}
	return &model.FetchRequest{
		URL: in.URL, Auth: auth, Mode: mode, Filter: in.Filter,
		Status: &model.FetchRequestStatus{Condition: model.FetchRequestStatusConditionInitial, Timestamp: now},
	}, nil
}

func versionFromInput(path string, in *model.VersionInput) (*model.Version, error) {
	if in == nil {
		return nil, nil
	}
	if err := checkRequired(path+".value", in.Value, 256); err != nil {
		return nil, err
	}
	if err := checkText(path+".deprecatedSince", in.DeprecatedSince, 256); err != nil {
		return nil, err
	}
	// The schema's defaults (false) apply when a caller outside GraphQL leaves them out.
	f := false
	v := &model.Version{Value: in.Value, Deprecated: in.Deprecated, DeprecatedSince: in.DeprecatedSince, ForRemoval: in.ForRemoval}
	if v.Deprecated == nil {
		v.Deprecated = &f
	}
	if v.ForRemoval == nil {
		v.ForRemoval = &f
	}
	return v, nil
}

// Formats each specification type can be written in.
var (
	apiFormats = map[model.APISpecType][]model.SpecFormat{
		model.APISpecTypeOdata:   {model.SpecFormatXML, model.SpecFormatJSON},
		model.APISpecTypeOpenAPI: {model.SpecFormatYaml, model.SpecFormatJSON},
	}
	eventFormats = map[model.EventSpecType][]model.SpecFormat{
		model.EventSpecTypeAsyncAPI: {model.SpecFormatYaml, model.SpecFormatJSON},
	}
)

// checkContent checks what a specification or document carries: data, a fetch request or both (the data
// is kept and the fetch request waits for a refetch), but not neither.
func (s *Service) checkContent(path string, data *string, fr *model.FetchRequestInput) error {
	if data == nil && fr == nil {
		return apperr.Invalid("%s: give data or a fetchRequest", path)
	}
	if data != nil && int64(len(*data)) > s.cfg.MaxSpecSize {
		return apperr.Invalid("%s.data: larger than %d bytes", path, s.cfg.MaxSpecSize)
	}
	return nil
}

func checkFormat[T ~string](path string, typ T, format model.SpecFormat, allowed map[T][]model.SpecFormat) error {
	formats, ok := allowed[typ]
	if !ok {
		return apperr.Invalid("%s.type: %q is not a specification type", path, typ)
	}
	if !slices.Contains(formats, format) {
		return apperr.Invalid("%s.format: %s specifications are written in %v, not %q", path, typ, formats, format)
	}
	return nil
}
