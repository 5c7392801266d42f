package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gin-gonic/gin"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// HeaderConnectorToken is where callers present a Connector one-time token.
const HeaderConnectorToken = "Connector-Token"

// OneTimeToken lets a caller holding a Connector one-time token use exactly the pairing operations:
// `configuration` and `signCertificateSigningRequest`. The Connector checks and consumes the token.
type OneTimeToken struct{}

// tokenOperations are the root fields a one-time token opens.
var tokenOperations = map[string]bool{"configuration": true, "signCertificateSigningRequest": true, "__typename": true}

// Applies implements Method.
func (OneTimeToken) Applies(c *gin.Context) bool { return c.GetHeader(HeaderConnectorToken) != "" }

// Authenticate implements Method.
func (OneTimeToken) Authenticate(c *gin.Context) (identity.Identity, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return identity.Identity{}, err
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return identity.Identity{}, fmt.Errorf("%w: body is not a GraphQL request", ErrForbidden)
	}
	doc, perr := parser.ParseQuery(&ast.Source{Input: req.Query})
	if perr != nil {
		return identity.Identity{}, fmt.Errorf("%w: query does not parse", ErrForbidden)
	}
	for _, op := range doc.Operations {
		for _, sel := range op.SelectionSet {
			f, ok := sel.(*ast.Field)
			if !ok || !tokenOperations[f.Name] {
				return identity.Identity{}, fmt.Errorf("%w: a one-time token opens only configuration and signCertificateSigningRequest", ErrForbidden)
			}
		}
	}
	if len(doc.Fragments) > 0 {
		return identity.Identity{}, errors.Join(ErrForbidden, errors.New("fragments are not accepted with a one-time token"))
	}
	return identity.Identity{ConnectorToken: c.GetHeader(HeaderConnectorToken)}, nil
}
