package model

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAuthRoundTrip(t *testing.T) {
	headers := `{"h":["1","2"]}`
	in := &AuthInput{
		Credential:                  &CredentialDataInput{Basic: &BasicCredentialDataInput{Username: "u", Password: "p"}},
		AdditionalHeadersSerialized: &headers,
		RequestAuth: &CredentialRequestAuthInput{Csrf: &CSRFTokenCredentialRequestAuthInput{
			TokenEndpointURL: "http://csrf",
			Credential:       &CredentialDataInput{Oauth: &OAuthCredentialDataInput{ClientID: "c", ClientSecret: "s", URL: "http://token"}},
		}},
	}
	a, err := AuthFromInput(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.AdditionalHeaders, HTTPHeaders{"h": {"1", "2"}}) {
		t.Fatalf("headers not parsed: %v", a.AdditionalHeaders)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Auth
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, &back) {
		t.Fatalf("round trip changed the auth:\n%+v\n%+v", a, &back)
	}
}

func TestAuthInputRejected(t *testing.T) {
	bad := "{not json"
	for name, in := range map[string]*AuthInput{
		"no credential kind":    {Credential: &CredentialDataInput{}},
		"both credential kinds": {Credential: &CredentialDataInput{Basic: &BasicCredentialDataInput{}, Oauth: &OAuthCredentialDataInput{}}},
		"bad serialized":        {AdditionalHeadersSerialized: &bad},
		"csrf missing":          {RequestAuth: &CredentialRequestAuthInput{}},
	} {
		if _, err := AuthFromInput(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
