package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth/client"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

// TestStatusLogoutProfiles stores logins for two servers in the default profile and one in
// profile "work": status lists each with issuer, registration kind, scopes and expiry and
// never a token or secret; logout removes one server's login only; profiles stay apart.
func TestStatusLogoutProfiles(t *testing.T) {
	t.Setenv(client.ConfigDirEnv, t.TempDir())
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	put := func(profile, resource string, reg *client.Registration) {
		dir, err := storeDir(profile, "")
		if err != nil {
			t.Fatal(err)
		}
		err = client.NewFileStore(dir).Put(ctx, &client.Entry{
			Key:          client.Key{Resource: resource, Issuer: "https://as.example.com"},
			Registration: reg, Scopes: []string{"notes:read"}, Updated: time.Now(),
			Token: &oauth2.Token{AccessToken: "secret-access-token", RefreshToken: "secret-refresh-token", Expiry: exp},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("", "https://a.example.com/mcp", &client.Registration{ClientID: "dyn-1", ClientSecret: "secret-client-secret", Dynamic: true})
	put("", "https://b.example.com/mcp", &client.Registration{ClientID: "pre-1", ClientSecret: "secret-client-secret"})
	put("work", "https://a.example.com/mcp", &client.Registration{ClientID: "https://app.example.com/client.json"})

	out, err := runCmd(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://a.example.com/mcp", "https://b.example.com/mcp", "https://as.example.com", "dynamic (RFC 7591)", "pre-registered", "notes:read", "valid", exp.Local().Format(time.RFC3339)} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	jsonOut, err := runCmd(t, "status", "--json", "--profile", "work")
	if err != nil {
		t.Fatal(err)
	}
	var rows []statusRow
	if err := json.Unmarshal([]byte(jsonOut), &rows); err != nil || len(rows) != 1 || rows[0].Registration != "metadata document (CIMD)" || !rows[0].Refreshable {
		t.Fatalf("status --json --profile work: %v %+v", err, rows)
	}
	for _, o := range []string{out, jsonOut} {
		if strings.Contains(o, "secret-") {
			t.Errorf("status shows a secret:\n%s", o)
		}
	}

	if out, err := runCmd(t, "logout", "https://A.example.com:443/mcp"); err != nil || !strings.Contains(out, "logged out of https://a.example.com/mcp") {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	out, _ = runCmd(t, "status")
	if strings.Contains(out, "https://a.example.com/mcp") || !strings.Contains(out, "https://b.example.com/mcp") {
		t.Errorf("after logout:\n%s", out)
	}
	if out, _ := runCmd(t, "status", "--profile", "work"); !strings.Contains(out, "https://a.example.com/mcp") {
		t.Errorf("logout of the default profile removed the work profile's login:\n%s", out)
	}
	if _, err := runCmd(t, "status", "--profile", "../x"); err == nil {
		t.Error("a profile name with a path separator was accepted")
	}
}
