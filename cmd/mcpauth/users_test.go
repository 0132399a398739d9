package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// runCLI runs the mcpauth command line in-process with stdin and returns its output.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func exitCode(err error) int {
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

func TestUsersCommands(t *testing.T) {
	data := t.TempDir()
	out, err := runCLI(t, "s3cret-password\n", "users", "add", "alice", "--scopes", "weather:read,stocks:read", "--password-stdin", "--data", data)
	if err != nil || !strings.Contains(out, "added user alice") || strings.Contains(out, "s3cret-password") {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "users", "add", "bob", "--data", data)
	m := regexp.MustCompile(`password \(shown only now\): (\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil || len(m[1]) < 20 {
		t.Fatalf("users add with a generated password: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "x\n", "users", "add", "carol", "--password-stdin", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("short password: %v", err)
	}
	if _, err := runCLI(t, "long-enough-pw\n", "users", "add", "alice", "--password-stdin", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("duplicate user: %v", err)
	}
	out, err = runCLI(t, "", "users", "list", "--data", data)
	if err != nil || !regexp.MustCompile(`alice\s+u_\S+\s+weather:read stocks:read`).MatchString(out) || !strings.Contains(out, "bob") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if strings.Contains(out, "argon2") {
		t.Fatal("users list shows password hashes")
	}
	if out, err := runCLI(t, "", "users", "scopes", "alice", "--scopes", "weather:read", "--data", data); err != nil || !strings.Contains(out, `"weather:read"`) {
		t.Fatalf("users scopes: %v %s", err, out)
	}
	if out, _ := runCLI(t, "", "users", "list", "--data", data); !regexp.MustCompile(`alice\s+u_\S+\s+weather:read\s+\d`).MatchString(out) {
		t.Fatalf("scopes not replaced:\n%s", out)
	}
	if _, err := runCLI(t, "", "users", "scopes", "nobody", "--scopes", "x", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("scopes of an unknown user: %v", err)
	}
	if out, err := runCLI(t, "another-password\n", "users", "passwd", "alice", "--password-stdin", "--data", data); err != nil || !strings.Contains(out, "changed") {
		t.Fatalf("users passwd: %v %s", err, out)
	}
	if _, err := runCLI(t, "another-password\n", "users", "passwd", "nobody", "--password-stdin", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("passwd of an unknown user: %v", err)
	}
	if _, err := runCLI(t, "", "users", "remove", "bob", "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "", "users", "remove", "bob", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("removing twice: %v", err)
	}
	out, _ = runCLI(t, "", "users", "list", "--data", data)
	if strings.Contains(out, "bob") {
		t.Fatalf("bob still listed:\n%s", out)
	}
}

func TestUsersWithPostgresNeedsTheKey(t *testing.T) {
	t.Setenv("MCPAUTH_KEY_ENCRYPTION_KEY", "")
	_, err := runCLI(t, "", "users", "list", "--postgres", "postgres://nowhere.invalid/db")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "key encryption key") {
		t.Fatalf("postgres without a key: %v", err)
	}
}

// TestUsersUnlock: `mcpauth users unlock` deletes every lockout record of one account in the
// SQLite store that serve uses (per network and over all networks, locked or not), leaves
// another account's, writes a login.unlocked audit record naming the user and the count, and
// refuses an unknown user as a usage error.
func TestUsersUnlock(t *testing.T) {
	data := t.TempDir()
	ids := map[string]string{}
	for _, name := range []string{"mia", "noah"} {
		if _, err := runCLI(t, "", "users", "add", name, "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := runCLI(t, "", "users", "list", "--data", data)
	for _, m := range regexp.MustCompile(`(?m)^(mia|noah)\s+(u_\S+)`).FindAllStringSubmatch(out, -1) {
		ids[m[1]] = m[2]
	}
	if len(ids) != 2 {
		t.Fatalf("user IDs in:\n%s", out)
	}
	st, err := sqlite.Open(filepath.Join(data, "mcpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	lock := store.LockoutPolicy{Failures: 1, Window: time.Hour, Lock: time.Hour, MaxLock: time.Hour}
	keys := []string{"account:" + ids["mia"], "network:" + ids["mia"] + "/203.0.113.7", "browser:" + ids["mia"] + "/d1",
		"network:" + ids["noah"] + "/203.0.113.7"}
	for _, k := range keys {
		if _, err := st.RecordLoginFailure(t.Context(), k, now, lock); err != nil {
			t.Fatal(err)
		}
	}

	out, err = runCLI(t, "", "users", "unlock", "mia", "--data", data)
	if err != nil || !strings.Contains(out, "unlocked mia: 3 lockout records deleted") {
		t.Fatalf("users unlock: %v\n%s", err, out)
	}
	var rec map[string]any
	for line := range strings.Lines(out) {
		if json.Unmarshal([]byte(line), &rec) == nil {
			break
		}
	}
	if rec["audit"] != "login.unlocked" || rec["user_id"] != ids["mia"] || rec["username"] != "mia" || rec["records"] != 3.0 {
		t.Fatalf("audit record %v in:\n%s", rec, out)
	}
	left, err := st.GetLoginFailures(t.Context(), keys)
	if err != nil || len(left) != 1 || left[0].Key != keys[3] || !left[0].Locked(now) {
		t.Fatalf("records after the unlock: %v, %v; want noah's lock only", left, err)
	}
	if _, err := runCLI(t, "", "users", "unlock", "nobody", "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("unlock of an unknown user: %v", err)
	}
}
