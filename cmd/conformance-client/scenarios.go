package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/client"
)

// scenarioContext is MCP_CONFORMANCE_CONTEXT: the pre-registered client of
// the auth/pre-registration and auth/client-credentials-* scenarios.
type scenarioContext struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret"`
	PrivateKeyPEM    string `json:"private_key_pem"`
	SigningAlgorithm string `json:"signing_algorithm"`
}

// cimdURL is this client's Client ID Metadata Document URL, the one the
// suite's authorization server expects (auth/basic-cimd).
const cimdURL = "https://conformance-test.local/client-metadata.json"

// operation is what a scenario asks of the connected client.
type operation func(ctx context.Context, s *mcp.ClientSession) error

// operations maps the suite's scenarios to their operations; every auth/*
// scenario calls the suite's test-tool.
var operations = map[string]operation{
	"initialize":                          listTools,
	"tools_call":                          callTool("add_numbers", map[string]any{"a": 5, "b": 3}),
	"sse-retry":                           callTool("test_reconnection", map[string]any{}),
	"elicitation-sep1034-client-defaults": callTool("test_client_elicitation_defaults", map[string]any{}),
}

func operationFor(scenario string) (operation, bool) {
	if op, ok := operations[scenario]; ok {
		return op, true
	}
	if strings.HasPrefix(scenario, "auth/") {
		return callTool("test-tool", map[string]any{}), true
	}
	return nil, false
}

func runScenario(ctx context.Context, scenario, serverURL string, sc scenarioContext, stderr io.Writer) error {
	op, ok := operationFor(scenario)
	if !ok {
		return fmt.Errorf("%w: unknown scenario %q", errUsage, scenario)
	}
	cfg, err := config(scenario, serverURL, sc, stderr)
	if err != nil {
		return err
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	session, err := c.Connect(ctx, mcpOptions(scenario))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer session.Close()
	return op(ctx, session)
}

// config is the client configuration an application would use in the
// scenario's situation.
func config(scenario, serverURL string, sc scenarioContext, stderr io.Writer) (client.Config, error) {
	cfg := client.Config{
		ServerURL:         serverURL,
		ClientName:        "mcpauth conformance client",
		ClientMetadataURL: cimdURL,
		ClientID:          sc.ClientID,
		ClientSecret:      sc.ClientSecret,
		Store:             client.NewMemoryStore(),
		OpenBrowser:       approveAtOnce,
		Stderr:            stderr,
	}
	// A backend acting on its own behalf, not a user's: client_credentials.
	if strings.HasPrefix(scenario, "auth/client-credentials-") {
		cfg.GrantType = client.ClientCredentials
	}
	if sc.PrivateKeyPEM != "" {
		key, err := client.ParsePrivateKey([]byte(sc.PrivateKeyPEM))
		if err != nil {
			return cfg, fmt.Errorf("%w: private_key_pem: %v", errUsage, err)
		}
		cfg.PrivateKey = key
		cfg.PrivateKeyAlg = sc.SigningAlgorithm
	}
	return cfg, nil
}

// mcpOptions are the MCP client options of the scenario: an elicitation
// handler that accepts, leaving every field to its schema default (SEP-1034),
// where the scenario elicits.
func mcpOptions(scenario string) *mcp.ClientOptions {
	if scenario != "elicitation-sep1034-client-defaults" {
		return nil
	}
	return &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
	}
}

func listTools(ctx context.Context, s *mcp.ClientSession) error {
	_, err := s.ListTools(ctx, nil)
	return err
}

// callTool lists the tools, checks that name is one of them and calls it.
func callTool(name string, args map[string]any) operation {
	return func(ctx context.Context, s *mcp.ClientSession) error {
		tools, err := s.ListTools(ctx, nil)
		if err != nil {
			return fmt.Errorf("tools/list: %w", err)
		}
		found := false
		for _, t := range tools.Tools {
			found = found || t.Name == name
		}
		if !found {
			return fmt.Errorf("tools/list: no tool %q", name)
		}
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			return fmt.Errorf("tools/call %s: %w", name, err)
		}
		if res.IsError {
			return fmt.Errorf("tools/call %s: the tool reported an error", name)
		}
		return nil
	}
}

var errUsage = errors.New("usage")

// errorKind names the typed error of the client library that err wraps, for
// the test that checks the client refused for the right reason.
func errorKind(err error) string {
	var (
		resource  *client.ResourceMismatchError
		scope     *client.InsufficientScopeError
		issuer    *client.IssuerMismatchError
		pkce      *client.PKCEUnsupportedError
		reg       *client.RegistrationError
		noReg     *client.NoRegistrationError
		denied    *client.UserDeniedError
		authResp  *client.AuthorizationResponseError
		token     *client.TokenError
		metadata  *client.MetadataError
		authzReqd *client.AuthorizationRequiredError
	)
	switch {
	case errors.Is(err, errUsage):
		return "usage"
	case errors.As(err, &resource):
		return "resource_mismatch"
	case errors.As(err, &scope):
		return "insufficient_scope"
	case errors.As(err, &issuer):
		return "issuer_mismatch"
	case errors.As(err, &pkce):
		return "pkce_unsupported"
	case errors.As(err, &reg):
		return "registration_rejected"
	case errors.As(err, &noReg):
		return "no_registration"
	case errors.As(err, &denied):
		return "user_denied"
	case errors.As(err, &authResp):
		return "authorization_response"
	case errors.As(err, &token):
		return "token"
	case errors.As(err, &metadata):
		return "metadata"
	case errors.As(err, &authzReqd):
		return "authorization_required"
	case errors.Is(err, client.ErrInsecureURL):
		return "insecure_url"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}
