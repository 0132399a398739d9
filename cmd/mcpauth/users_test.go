package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
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
