// Flags shared by the client commands (login, tools, call) and the client configuration
// they build.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mcpauth/mcpauth/client"
)

// clientFlags are the flags of the commands that connect to an MCP server.
type clientFlags struct {
	clientID, clientSecret string
	clientName             string
	clientMetadataURL      string
	issuer                 string
	scopes                 []string
	noBrowser              bool
	deviceCode             bool
	allowHTTP              bool
	configDir              string
	profile                string
	output                 string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.clientID, "client-id", "", "pre-registered OAuth client `ID` (skips registration)")
	fs.StringVar(&f.clientSecret, "client-secret", "", "secret of the pre-registered client (or MCPAUTH_CLIENT_SECRET)")
	fs.StringVar(&f.clientName, "client-name", "mcpauth", "client `name` shown on the consent screen and sent when registering")
	fs.StringVar(&f.clientMetadataURL, "client-metadata-url", "", "https `URL` of this client's Client ID Metadata Document, used as client_id when the server supports it")
	fs.StringVar(&f.issuer, "issuer", "", "only use the authorization server with this issuer `URL` (pin it with --client-secret)")
	fs.StringSliceVar(&f.scopes, "scope", nil, "`scopes` to request instead of those the server asks for (comma-separated or repeated)")
	fs.BoolVar(&f.noBrowser, "no-browser", false, "print the authorization URL instead of opening a browser; on a terminal, the redirect address may be pasted back")
	fs.BoolVar(&f.deviceCode, "device-code", false, "log in with a code entered on another device (RFC 8628 device authorization grant)")
	fs.BoolVar(&f.allowHTTP, "allow-http", false, "allow plain http to the server and its authorization server off loopback: tokens travel unencrypted (trusted private networks only)")
	fs.StringVar(&f.configDir, "config-dir", "", "`directory` of stored registrations and tokens (default $"+client.ConfigDirEnv+", else the user config directory/mcpauth)")
	fs.StringVar(&f.profile, "profile", "", "use the credentials of this `profile` (several accounts for one server; see mcpauth status)")
	fs.StringVarP(&f.output, "output", "o", "text", "output `format`: text or json")
}

// config builds the client configuration for serverURL.
func (f *clientFlags) config(serverURL string, stderr io.Writer) (client.Config, error) {
	if f.output != "text" && f.output != "json" {
		return client.Config{}, withExitCode(exitUsage, fmt.Errorf("--output %q: want text or json", f.output))
	}
	dir := f.configDir
	if dir == "" {
		d, err := storeDir(f.profile, "") // the proxy's, status's and logout's store
		if err != nil {
			return client.Config{}, withExitCode(exitUsage, err)
		}
		dir = d
	} else if f.profile != "" {
		return client.Config{}, withExitCode(exitUsage, errors.New("--profile and --config-dir exclude each other"))
	}
	secret := f.clientSecret
	if secret == "" {
		secret = os.Getenv("MCPAUTH_CLIENT_SECRET")
	}
	if secret != "" && f.clientID == "" {
		return client.Config{}, withExitCode(exitUsage, fmt.Errorf("--client-secret needs --client-id"))
	}
	var scopes []string
	for _, s := range f.scopes {
		scopes = append(scopes, strings.Fields(s)...)
	}
	cfg := client.Config{
		ServerURL:         serverURL,
		ClientName:        f.clientName,
		ClientVersion:     version,
		ClientID:          f.clientID,
		ClientSecret:      secret,
		ClientMetadataURL: f.clientMetadataURL,
		Issuer:            f.issuer,
		Scopes:            scopes,
		Store:             client.NewFileStore(dir),
		NoBrowser:         f.noBrowser,
		AllowHTTP:         f.allowHTTP,
		Stderr:            stderr,
	}
	if f.deviceCode {
		cfg.GrantType = client.DeviceCode
	}
	if f.noBrowser && term.IsTerminal(int(os.Stdin.Fd())) {
		// The browser may be on another machine: accept the redirect address pasted back.
		cfg.ReadRedirect = client.TerminalRedirect(os.Stdin, stderr)
	}
	return cfg, nil
}

// connect builds the client and connects to serverURL.
func (f *clientFlags) connect(ctx context.Context, serverURL string, stderr io.Writer) (*client.Client, *mcp.ClientSession, error) {
	cfg, err := f.config(serverURL, stderr)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, nil, withExitCode(exitUsage, err)
	}
	s, err := c.Connect(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", c.ServerResource(), authCause(err))
	}
	return c, s, nil
}

// authCause returns the typed authorization error inside err, without the transport's
// wrapping, so that the message says what went wrong; other errors are returned as they are.
func authCause(err error) error {
	for _, find := range []func(error) (error, bool){
		as[*client.UserDeniedError], as[*client.AuthorizationResponseError], as[*client.AuthorizationRequiredError],
		as[*client.InsufficientScopeError], as[*client.RegistrationError], as[*client.NoRegistrationError],
		as[*client.IssuerMismatchError], as[*client.PKCEUnsupportedError], as[*client.ResourceMismatchError],
		as[*client.TokenError], as[*client.MetadataError], as[*client.DeviceCodeExpiredError],
	} {
		if cause, ok := find(err); ok {
			return cause
		}
	}
	return err
}

// as is errors.As for the error type T.
func as[T error](err error) (error, bool) {
	var target T
	if errors.As(err, &target) {
		return target, true
	}
	return nil, false
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
