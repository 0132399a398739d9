// mcpauth status: what the store holds for each server (never a secret), and the store
// directory of a profile.

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/client"
)

func init() { subcommands = append(subcommands, newStatusCmd) }

// storeDir returns the credential store directory of a profile: the default config
// directory (client.DefaultConfigDir, unchanged between versions) for the default profile,
// profiles/NAME under it otherwise. isolate, when set (proxy --resource), keeps a session
// apart within the profile.
func storeDir(profile, isolate string) (string, error) {
	dir, err := client.DefaultConfigDir()
	if err != nil {
		return "", err
	}
	if profile != "" {
		if profile == "." || profile == ".." || strings.ContainsAny(profile, `/\`) {
			return "", fmt.Errorf("--profile %q: a profile name cannot contain a path separator", profile)
		}
		dir = filepath.Join(dir, "profiles", profile)
	}
	if isolate != "" {
		h := sha256.Sum256([]byte(isolate))
		dir = filepath.Join(dir, "isolated", hex.EncodeToString(h[:8]))
	}
	return dir, nil
}

// storedEntries returns every entry of the store in dir, or those of resource when it is
// not empty, most recently updated first.
func storedEntries(ctx context.Context, dir, resource string) ([]*client.Entry, error) {
	if resource != "" {
		return client.NewFileStore(dir).List(ctx, resource)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.credentials.json"))
	if err != nil {
		return nil, err
	}
	var out []*client.Entry
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var e client.Entry
		if json.Unmarshal(b, &e) != nil {
			continue // not a credentials file of ours
		}
		out = append(out, &e)
	}
	slices.SortStableFunc(out, func(a, b *client.Entry) int { return b.Updated.Compare(a.Updated) })
	return out, nil
}

// usableCredentials reports whether the store holds a token for resource that is fresh or
// can be refreshed.
func usableCredentials(ctx context.Context, dir, resource string) bool {
	es, _ := storedEntries(ctx, dir, resource)
	for _, e := range es {
		if e.Token != nil && (e.Token.RefreshToken != "" || e.Token.Valid()) {
			return true
		}
	}
	return false
}

// fresh reports whether the newest stored token for resource can be sent as it is.
func fresh(ctx context.Context, dir, resource string) bool {
	es, _ := storedEntries(ctx, dir, resource)
	return len(es) > 0 && es[0].Token != nil && es[0].Token.AccessToken != "" &&
		(es[0].Token.Expiry.IsZero() || time.Until(es[0].Token.Expiry) > time.Minute)
}

func parseURLArg(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// statusRow is what status shows of one entry: no token, secret or code.
type statusRow struct {
	Server       string    `json:"server"`
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id,omitempty"`
	Registration string    `json:"registration"`
	Scopes       []string  `json:"scopes"`
	Token        string    `json:"token"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Refreshable  bool      `json:"refreshable"`
	Updated      time.Time `json:"updated"`
}

func newStatusRow(e *client.Entry, now time.Time) statusRow {
	r := statusRow{Server: e.Resource, Issuer: e.Issuer, Scopes: e.Scopes, Registration: "none", Token: "none", Updated: e.Updated}
	if r.Scopes == nil {
		r.Scopes = []string{}
	}
	if reg := e.Registration; reg != nil {
		r.ClientID = reg.ClientID
		switch {
		case reg.Dynamic:
			r.Registration = "dynamic (RFC 7591)"
		case strings.HasPrefix(reg.ClientID, "https://"):
			r.Registration = "metadata document (CIMD)"
		default:
			r.Registration = "pre-registered"
		}
	}
	if t := e.Token; t != nil && t.AccessToken != "" {
		r.Expiry, r.Refreshable = t.Expiry, t.RefreshToken != ""
		switch {
		case t.Expiry.IsZero() || t.Expiry.After(now):
			r.Token = "valid"
		case r.Refreshable:
			r.Token = "expired (refreshable)"
		default:
			r.Token = "expired"
		}
	}
	return r
}

func newStatusCmd() *cobra.Command {
	var profile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "status [URL]",
		Short:             "Show stored logins: server, issuer, registration, scopes, token expiry (never a secret)",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeStoredServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := storeDir(profile, "")
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			resource := ""
			if len(args) == 1 {
				if resource, err = canonicalServer(args[0]); err != nil {
					return withExitCode(exitUsage, err)
				}
			}
			es, err := storedEntries(cmd.Context(), dir, resource)
			if err != nil {
				return err
			}
			rows := make([]statusRow, 0, len(es))
			for _, e := range es {
				rows = append(rows, newStatusRow(e, time.Now()))
			}
			if resource != "" && len(rows) == 0 {
				return fmt.Errorf("no stored login for %s: run `mcpauth login %s`", resource, resource)
			}
			return printStatus(cmd.OutOrStdout(), rows, asJSON)
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "show the logins of this `profile`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// canonicalServer returns the key under which the client stores a server's credentials.
func canonicalServer(raw string) (string, error) {
	c, err := client.New(client.Config{ServerURL: raw, Store: client.NewMemoryStore()})
	if err != nil {
		return "", err
	}
	return c.ServerResource(), nil
}

func printStatus(w io.Writer, rows []statusRow, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no stored logins; log in with `mcpauth login URL`")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tISSUER\tREGISTRATION\tSCOPES\tTOKEN\tEXPIRES")
	for _, r := range rows {
		exp := "-"
		if !r.Expiry.IsZero() {
			exp = r.Expiry.Local().Format(time.RFC3339)
		}
		scopes := strings.Join(r.Scopes, " ")
		if scopes == "" {
			scopes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Server, r.Issuer, r.Registration, scopes, r.Token, exp)
	}
	return tw.Flush()
}
