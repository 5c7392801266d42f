package model

import (
	"encoding/json"
	"errors"
	"fmt"
)

// AuthFromInput turns the credentials a client sent into the form stored and returned. Serialized headers
// and query parameters are parsed, so both forms are answered.
func AuthFromInput(in *AuthInput) (*Auth, error) {
	if in == nil {
		return nil, nil
	}
	cred, err := credentialFromInput(in.Credential)
	if err != nil {
		return nil, err
	}
	a := &Auth{Credential: cred}
	if a.AdditionalHeaders, a.AdditionalHeadersSerialized, err = multiMap(in.AdditionalHeaders, in.AdditionalHeadersSerialized, "additionalHeaders"); err != nil {
		return nil, err
	}
	if a.AdditionalQueryParams, a.AdditionalQueryParamsSerialized, err = multiMap(in.AdditionalQueryParams, in.AdditionalQueryParamsSerialized, "additionalQueryParams"); err != nil {
		return nil, err
	}
	if in.RequestAuth != nil {
		if in.RequestAuth.Csrf == nil {
			return nil, errors.New("requestAuth: csrf is required")
		}
		c := in.RequestAuth.Csrf
		if c.TokenEndpointURL == "" {
			return nil, errors.New("requestAuth.csrf: tokenEndpointURL is required")
		}
		csrf := &CSRFTokenCredentialRequestAuth{TokenEndpointURL: c.TokenEndpointURL}
		if csrf.Credential, err = credentialFromInput(c.Credential); err != nil {
			return nil, fmt.Errorf("requestAuth.csrf: %w", err)
		}
		if csrf.AdditionalHeaders, csrf.AdditionalHeadersSerialized, err = multiMap(c.AdditionalHeaders, c.AdditionalHeadersSerialized, "additionalHeaders"); err != nil {
			return nil, fmt.Errorf("requestAuth.csrf: %w", err)
		}
		if csrf.AdditionalQueryParams, csrf.AdditionalQueryParamsSerialized, err = multiMap(c.AdditionalQueryParams, c.AdditionalQueryParamsSerialized, "additionalQueryParams"); err != nil {
			return nil, fmt.Errorf("requestAuth.csrf: %w", err)
		}
		a.RequestAuth = &CredentialRequestAuth{Csrf: csrf}
	}
	return a, nil
}

func credentialFromInput(in *CredentialDataInput) (CredentialData, error) {
	switch {
	case in == nil:
		return nil, nil
	case in.Basic != nil && in.Oauth != nil:
		return nil, errors.New("credential: give either basic or oauth, not both")
	case in.Basic != nil:
		return &BasicCredentialData{Username: in.Basic.Username, Password: in.Basic.Password}, nil
	case in.Oauth != nil:
		return &OAuthCredentialData{ClientID: in.Oauth.ClientID, ClientSecret: in.Oauth.ClientSecret, URL: in.Oauth.URL}, nil
	default:
		return nil, errors.New("credential: basic or oauth is required")
	}
}

// multiMap accepts a header or parameter map given either as an object or serialized into a JSON string
// and returns both forms.
func multiMap[M ~map[string][]string](m M, serialized *string, field string) (M, *string, error) {
	if serialized != nil && *serialized != "" {
		var parsed M
		if err := json.Unmarshal([]byte(*serialized), &parsed); err != nil {
			return nil, nil, fmt.Errorf("%sSerialized: not a JSON object of string lists: %w", field, err)
		}
		if m != nil {
			return nil, nil, fmt.Errorf("give %s or %sSerialized, not both", field, field)
		}
		m = parsed
	}
	if m == nil {
		return nil, nil, nil
	}
	b, _ := json.Marshal(m)
	s := string(b)
	return m, &s, nil
}

// storedCredential is the stored form of the CredentialData union: the member is told apart by its fields.
type storedCredential struct {
	Username     *string `json:"username,omitempty"`
	Password     string  `json:"password,omitempty"`
	ClientID     *string `json:"clientId,omitempty"`
	ClientSecret string  `json:"clientSecret,omitempty"`
	URL          string  `json:"url,omitempty"`
}

func decodeCredential(raw json.RawMessage) (CredentialData, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c storedCredential
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	switch {
	case c.Username != nil:
		return &BasicCredentialData{Username: *c.Username, Password: c.Password}, nil
	case c.ClientID != nil:
		return &OAuthCredentialData{ClientID: *c.ClientID, ClientSecret: c.ClientSecret, URL: c.URL}, nil
	}
	return nil, fmt.Errorf("unknown credential %s", raw)
}

// UnmarshalJSON restores the credential union, which encoding/json cannot do on its own.
func (a *Auth) UnmarshalJSON(b []byte) error {
	type plain Auth
	var v struct {
		plain
		Credential json.RawMessage `json:"credential,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Auth(v.plain)
	var err error
	a.Credential, err = decodeCredential(v.Credential)
	return err
}

// UnmarshalJSON restores the credential union, which encoding/json cannot do on its own.
func (c *CSRFTokenCredentialRequestAuth) UnmarshalJSON(b []byte) error {
	type plain CSRFTokenCredentialRequestAuth
	var v struct {
		plain
		Credential json.RawMessage `json:"credential,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = CSRFTokenCredentialRequestAuth(v.plain)
	var err error
	c.Credential, err = decodeCredential(v.Credential)
	return err
}
