// Package doctor diagnoses the OAuth setup of an MCP server step by step, the way a client
// following the MCP authorization specification (2026-07-28, "Authorization Server
// Discovery", "Client Registration", "Authorization Code Protection", "Token Audience
// Binding") would meet it, and says for each step what is wrong and how to fix it.
package doctor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/wwwauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Status is the outcome of one step.
type Status string

const (
	OK   Status = "ok"   // the step passed
	Fail Status = "fail" // a client cannot connect until this is fixed
	Warn Status = "warn" // works, but not as the specification recommends
	Info Status = "info" // nothing to check
)

// Step is one finding.
type Step struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the whole diagnosis. OK tells whether a client could connect.
type Report struct {
	Server string `json:"server"`
	Steps  []Step `json:"steps"`
	OK     bool   `json:"ok"`
}

// Options adjust the diagnosis.
type Options struct {
	// HTTPClient sends the requests. Default: a client with a 15-second timeout.
	HTTPClient *http.Client
	// ClientID is a pre-registered client the user has for this server, if any: then an
	// authorization server without self-registration is not a failure.
	ClientID string
	// AccessToken is a token previously obtained for the server (e.g. from the store); when
	// it is a JWT its audience is checked. It is never printed.
	AccessToken string
}

// Diagnose runs the diagnosis of serverURL. It never returns nil.
func Diagnose(ctx context.Context, serverURL string, opts Options) *Report {
	d := &diagnosis{ctx: ctx, opts: opts, r: &Report{Server: serverURL}}
	if d.opts.HTTPClient == nil {
		d.opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	d.run(serverURL)
	d.r.OK = !slices.ContainsFunc(d.r.Steps, func(s Step) bool { return s.Status == Fail })
	return d.r
}

type diagnosis struct {
	ctx  context.Context
	opts Options
	r    *Report
}

func (d *diagnosis) add(name string, st Status, detail, fix string) {
	d.r.Steps = append(d.r.Steps, Step{Name: name, Status: st, Detail: detail, Fix: fix})
}

func (d *diagnosis) run(serverURL string) {
	server, err := url.Parse(serverURL)
	if err != nil || !server.IsAbs() || (server.Scheme != "https" && server.Scheme != "http") {
		d.add("server URL", Fail, fmt.Sprintf("%q is not an http(s) URL", serverURL), "pass the MCP endpoint, e.g. https://api.example.com/mcp")
		return
	}
	if server.Scheme == "http" && !isLoopback(server.Hostname()) {
		d.add("server URL", Fail, "plain http off loopback: tokens would travel in clear text", "serve the MCP endpoint over https")
		return
	}
	ch, ok := d.challenge(server)
	if !ok {
		return
	}
	prm, found := d.resourceMetadata(server, ch.Params["resource_metadata"])
	var issuer string
	if found {
		if !d.resourceMatch(server, prm) {
			return
		}
		if len(prm.AuthorizationServers) == 0 {
			d.add("authorization servers", Fail, "the protected resource metadata lists no authorization_servers", "list the issuer URL of your authorization server in authorization_servers")
			return
		}
		issuer = prm.AuthorizationServers[0]
		d.add("authorization servers", OK, "issuer "+issuer, "")
	} else {
		issuer = server.Scheme + "://" + server.Host
		d.add("authorization servers", Warn, "without protected resource metadata, clients assume the server's origin "+issuer+" is the authorization server (2025-03-26 behaviour)", "")
	}
	as, ok := d.authServerMetadata(issuer)
	if !ok {
		return
	}
	d.pkce(as)
	d.registration(as)
	d.iss(as)
	d.refresh(as)
	d.audience(server, prm)
}

// challenge sends initialize without a token, as a client's first request does.
func (d *diagnosis) challenge(server *url.URL) (wwwauth.Challenge, bool) {
	const name = "401 and challenge"
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpauth-doctor","version":"1"}}}`
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, server.String(), strings.NewReader(body))
	if err != nil {
		d.add(name, Fail, err.Error(), "")
		return wwwauth.Challenge{}, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		d.add(name, Fail, "the server did not answer: "+err.Error(), "check the URL, DNS, TLS and any proxy (HTTPS_PROXY)")
		return wwwauth.Challenge{}, false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		if resp.StatusCode < 300 {
			d.add(name, Info, fmt.Sprintf("HTTP %d without a token: this server does not require authorization", resp.StatusCode), "")
		} else {
			d.add(name, Fail, fmt.Sprintf("HTTP %d without a token, not 401", resp.StatusCode), "answer requests without a valid token with 401 and WWW-Authenticate: Bearer resource_metadata=\"…\"")
		}
		return wwwauth.Challenge{}, false
	}
	cs, _ := wwwauth.Parse(resp.Header.Values("WWW-Authenticate"))
	b, ok := wwwauth.Find(cs, "Bearer")
	if !ok {
		d.add(name, Fail, "401 without a Bearer challenge in WWW-Authenticate", "send WWW-Authenticate: Bearer resource_metadata=\"<your protected resource metadata URL>\"")
		return wwwauth.Challenge{}, false
	}
	detail := "401 with a Bearer challenge"
	if rm := b.Params["resource_metadata"]; rm != "" {
		detail += "; resource_metadata=" + rm
	} else {
		detail += " without resource_metadata (clients fall back to the well-known URLs)"
	}
	if sc := b.Params["scope"]; sc != "" {
		detail += "; scope=" + sc
	}
	d.add(name, OK, detail, "")
	return b, true
}

// resourceMetadata looks for protected resource metadata where a client does (RFC 9728 §3.1;
// the specification's order: the challenge's URL, the path-aware well-known URL, the root).
func (d *diagnosis) resourceMetadata(server *url.URL, fromChallenge string) (*oauthex.ProtectedResourceMetadata, bool) {
	const name = "protected resource metadata"
	origin := server.Scheme + "://" + server.Host
	var urls []string
	if fromChallenge != "" {
		urls = append(urls, fromChallenge)
	}
	if p := strings.TrimSuffix(server.EscapedPath(), "/"); p != "" {
		urls = append(urls, origin+"/.well-known/oauth-protected-resource"+p)
	}
	urls = append(urls, origin+"/.well-known/oauth-protected-resource")
	var misses []string
	for _, u := range urls {
		var prm oauthex.ProtectedResourceMetadata
		status, err := d.getJSON(u, &prm)
		if err != nil {
			misses = append(misses, fmt.Sprintf("%s: %v", u, err))
			if status == 0 || status >= 500 || status == http.StatusOK {
				break // not a "no document here": the client stops as well
			}
			continue
		}
		detail := "found at " + u
		if len(misses) > 0 {
			detail += " (not at " + strings.Join(misses, "; ") + ")"
		}
		d.add(name, OK, detail, "")
		return &prm, true
	}
	d.add(name, Fail, "not found: "+strings.Join(misses, "; "),
		"serve RFC 9728 metadata ({\"resource\": \""+server.String()+"\", \"authorization_servers\": [...]}) at "+urls[len(urls)-1]+
			" or its path-aware form, and name it in WWW-Authenticate resource_metadata")
	return nil, false
}

// resourceMatch checks that the metadata is for this server (RFC 9728 §3.3): the same URL,
// or a prefix of it at a path segment boundary.
func (d *diagnosis) resourceMatch(server *url.URL, prm *oauthex.ProtectedResourceMetadata) bool {
	const name = "resource match"
	r, err := url.Parse(prm.Resource)
	ok := err == nil && strings.EqualFold(r.Scheme, server.Scheme) && strings.EqualFold(r.Host, server.Host)
	if ok {
		rp, sp := strings.TrimSuffix(r.EscapedPath(), "/"), strings.TrimSuffix(server.EscapedPath(), "/")
		ok = rp == sp || strings.HasPrefix(sp, rp+"/")
	}
	if !ok {
		d.add(name, Fail, fmt.Sprintf("the metadata's resource is %q, not %q: clients must refuse it", prm.Resource, server.String()),
			"set resource in the protected resource metadata to the MCP endpoint URL clients use, "+server.String())
		return false
	}
	d.add(name, OK, "resource "+prm.Resource+" covers "+server.String(), "")
	return true
}

// authServerMetadata fetches the issuer's metadata in the specification's order (RFC 8414
// §3.1 with path insertion, then OpenID Connect Discovery) and checks its issuer.
func (d *diagnosis) authServerMetadata(issuer string) (*oauthex.AuthServerMeta, bool) {
	const name = "authorization server metadata"
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() {
		d.add(name, Fail, fmt.Sprintf("issuer %q is not a URL", issuer), "list the issuer URL in authorization_servers")
		return nil, false
	}
	origin, p := u.Scheme+"://"+u.Host, strings.TrimSuffix(u.EscapedPath(), "/")
	urls := []string{origin + "/.well-known/oauth-authorization-server" + p, origin + "/.well-known/openid-configuration" + p}
	if p != "" {
		urls = append(urls, origin+p+"/.well-known/openid-configuration")
	}
	var misses []string
	for _, mu := range urls {
		var as oauthex.AuthServerMeta
		if _, err := d.getJSON(mu, &as); err != nil {
			misses = append(misses, fmt.Sprintf("%s: %v", mu, err))
			continue
		}
		detail := "served by " + mu
		if len(misses) > 0 {
			detail += " (not by " + strings.Join(misses, "; ") + ")"
		}
		d.add(name, OK, detail, "")
		if as.Issuer != issuer {
			d.add("issuer", Fail, fmt.Sprintf("the metadata says issuer %q, but it was fetched for %q: clients must refuse it (RFC 8414 §3.3, mix-up defence)", as.Issuer, issuer),
				"make the issuer in the metadata identical to the URL in authorization_servers (scheme, host, port, path, trailing slash)")
			return nil, false
		}
		d.add("issuer", OK, "issuer "+issuer+" matches", "")
		return &as, true
	}
	d.add(name, Fail, "not found: "+strings.Join(misses, "; "), "serve RFC 8414 metadata at "+urls[0])
	return nil, false
}

func (d *diagnosis) pkce(as *oauthex.AuthServerMeta) {
	if slices.Contains(as.CodeChallengeMethodsSupported, "S256") {
		d.add("PKCE S256", OK, "code_challenge_methods_supported lists S256", "")
		return
	}
	d.add("PKCE S256", Fail, fmt.Sprintf("code_challenge_methods_supported is %v: MCP clients must refuse an authorization server without S256", as.CodeChallengeMethodsSupported),
		"support PKCE with S256 and list it in code_challenge_methods_supported")
}

func (d *diagnosis) registration(as *oauthex.AuthServerMeta) {
	const name = "client registration"
	var ways []string
	if as.ClientIDMetadataDocumentSupported {
		ways = append(ways, "Client ID Metadata Documents (URL client_id)")
	}
	if as.RegistrationEndpoint != "" {
		ways = append(ways, "dynamic client registration at "+as.RegistrationEndpoint)
	}
	switch {
	case len(ways) > 0:
		d.add(name, OK, strings.Join(ways, "; "), "")
	case d.opts.ClientID != "":
		d.add(name, OK, "no self-registration; using the pre-registered client ID you gave", "")
	default:
		d.add(name, Fail, "this authorization server supports neither Client ID Metadata Documents nor dynamic client registration",
			"register a client with the authorization server's administrator and pass --client-id (and --client-secret)")
	}
}

func (d *diagnosis) iss(as *oauthex.AuthServerMeta) {
	if as.AuthorizationResponseIssParameterSupported {
		d.add("iss in responses (RFC 9207)", OK, "authorization_response_iss_parameter_supported: clients verify iss", "")
		return
	}
	d.add("iss in responses (RFC 9207)", Warn, "the authorization server does not say it sends iss in authorization responses: no mix-up protection",
		"send iss and set authorization_response_iss_parameter_supported to true")
}

func (d *diagnosis) refresh(as *oauthex.AuthServerMeta) {
	if slices.Contains(as.GrantTypesSupported, "refresh_token") {
		d.add("refresh tokens", OK, "grant_types_supported lists refresh_token", "")
		return
	}
	d.add("refresh tokens", Warn, fmt.Sprintf("grant_types_supported is %v, without refresh_token: users log in again whenever the access token expires", as.GrantTypesSupported),
		"issue refresh tokens and list refresh_token in grant_types_supported")
}

// audience checks the aud of a stored JWT access token against the resource (RFC 8707,
// RFC 9068 §3). The token itself is never shown.
func (d *diagnosis) audience(server *url.URL, prm *oauthex.ProtectedResourceMetadata) {
	const name = "token audience"
	resource := server.String()
	if prm != nil {
		resource = prm.Resource
	}
	if d.opts.AccessToken == "" {
		d.add(name, Info, "no stored token to inspect; after `mcpauth login`, run doctor again to check the audience", "")
		return
	}
	aud, ok := jwtAudience(d.opts.AccessToken)
	if !ok {
		d.add(name, Info, "the stored token is opaque (not a JWT): its audience cannot be read here", "")
		return
	}
	if oauthex.MatchesResource(aud, resource) || slices.Contains(aud, server.String()) {
		d.add(name, OK, fmt.Sprintf("the stored token's aud %v names %s", aud, resource), "")
		return
	}
	d.add(name, Fail, fmt.Sprintf("the stored token's aud is %v, not %s: the server must reject it", aud, resource),
		"make the authorization server honour the resource parameter (RFC 8707) and put it in aud")
}

// jwtAudience returns the aud claim of a JWT without verifying it.
func jwtAudience(tok string) ([]string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil || len(claims.Aud) == 0 {
		return nil, false
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(claims.Aud, &many) == nil {
		return many, true
	}
	return nil, false
}

// getJSON fetches a JSON document into v and returns the HTTP status.
func (d *diagnosis) getJSON(u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return resp.StatusCode, fmt.Errorf("content type %q is not JSON", mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return resp.StatusCode, err
	}
	if len(body) > 1<<20 {
		return resp.StatusCode, fmt.Errorf("larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("invalid JSON: %v", err)
	}
	return resp.StatusCode, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// WriteText prints the report for a terminal: one line per step with ✓ (ok), ✗ (fail),
// ! (warn) or · (info), the fix under a failed or warned step, and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	marks := map[Status]string{OK: "✓", Fail: "✗", Warn: "!", Info: "·"}
	var b strings.Builder
	fmt.Fprintf(&b, "mcpauth doctor %s\n\n", r.Server)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "%s %s: %s\n", marks[s.Status], s.Name, s.Detail)
		if s.Fix != "" && s.Status != OK {
			fmt.Fprintf(&b, "    fix: %s\n", s.Fix)
		}
	}
	if r.OK {
		b.WriteString("\nA client can connect to this server.\n")
	} else {
		b.WriteString("\nA client cannot connect to this server until the steps marked ✗ are fixed.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
