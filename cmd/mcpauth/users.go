// mcpauth users: manage the people who log in at the authorization server (argon2id password
// hashes; each user with the scopes they may grant), in the store that mcpauth serve uses.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
)

func init() { subcommands = append(subcommands, newUsersCmd) }

// storeFlags select the store of the administration commands, as mcpauth serve does.
type storeFlags struct {
	data, postgresDSN, keyFile string
}

func (f *storeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.data, "data", "mcpauth-data", "`directory` of mcpauth serve's SQLite database and key file")
	fs.StringVar(&f.postgresDSN, "postgres", os.Getenv("MCPAUTH_POSTGRES_DSN"), "PostgreSQL `DSN` instead of SQLite (or MCPAUTH_POSTGRES_DSN)")
	fs.StringVar(&f.keyFile, "key-file", "", "key encryption key `file` (default DATA/key.b64; "+authserver.KeyEnv+" wins)")
}

// admin opens the store and returns an Admin on it, and a function that closes the store.
// With PostgreSQL the key must already exist (from the environment or --key-file): a new one
// would not match the servers'.
func (f *storeFlags) admin(ctx context.Context) (*authserver.Admin, func(), error) {
	keyFile := f.keyFile
	if f.postgresDSN != "" && os.Getenv(authserver.KeyEnv) == "" {
		if keyFile == "" {
			return nil, nil, withExitCode(exitUsage, fmt.Errorf("with --postgres, give the servers' key encryption key (%s or --key-file)", authserver.KeyEnv))
		}
		if _, err := os.Stat(keyFile); err != nil {
			return nil, nil, withExitCode(exitUsage, fmt.Errorf("key file: %w", err))
		}
	}
	if keyFile == "" {
		keyFile = filepath.Join(f.data, "key.b64")
	}
	st, err := openStore(ctx, serveOptions{data: f.data, postgresDSN: f.postgresDSN})
	if err != nil {
		return nil, nil, err
	}
	kek, err := authserver.LoadKey(keyFile)
	if err == nil {
		var a *authserver.Admin
		if a, err = authserver.NewAdmin(ctx, st, kek); err == nil {
			return a, func() { st.Close() }, nil
		}
	}
	st.Close()
	return nil, nil, err
}

// withAdmin wraps the body of a command that needs an Admin: it opens the store first and
// closes it after.
func (f *storeFlags) withAdmin(body func(cmd *cobra.Command, args []string, a *authserver.Admin) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, done, err := f.admin(cmd.Context())
		if err != nil {
			return err
		}
		defer done()
		return body(cmd, args, a)
	}
}

func newUsersCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage the users who log in at the authorization server",
		Long: `users adds, lists, removes users, changes their passwords and lifts their login
lockout, in the store that mcpauth serve uses (--data DIR, or --postgres DSN). Each user has the
scopes they may grant to clients; a user cannot consent to more.`,
	}
	sf.register(cmd.PersistentFlags())

	var scopes []string
	var passwordStdin bool
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add a user; prints a generated password once unless --password-stdin",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			password, generated, err := readPassword(cmd.InOrStdin(), passwordStdin)
			if err != nil {
				return err
			}
			u, err := a.AddUser(cmd.Context(), args[0], password, scopes)
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "added user %s (id %s) with scopes %q\n", u.Username, u.ID, strings.Join(u.Scopes, " "))
			if generated {
				fmt.Fprintf(out, "password (shown only now): %s\n", password)
			}
			return nil
		}),
	}
	add.Flags().StringSliceVar(&scopes, "scopes", nil, "`scopes` the user may grant, comma-separated")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")

	passwd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set a new password; prints a generated one once unless --password-stdin",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			password, generated, err := readPassword(cmd.InOrStdin(), passwordStdin)
			if err != nil {
				return err
			}
			if err := a.SetPassword(cmd.Context(), args[0], password); err != nil {
				return notFoundOrUsage(err, "user", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", args[0])
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password (shown only now): %s\n", password)
			}
			return nil
		}),
	}
	passwd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users and the scopes they may grant",
		Args:  cobra.NoArgs,
		RunE: sf.withAdmin(func(cmd *cobra.Command, _ []string, a *authserver.Admin) error {
			users, err := a.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tID\tSCOPES\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.ID, strings.Join(u.Scopes, " "), u.CreatedAt.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		}),
	}

	remove := &cobra.Command{
		Use:   "remove USERNAME",
		Short: "Remove a user, ending their sessions and revoking their grants",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			if err := a.RemoveUser(cmd.Context(), args[0]); err != nil {
				return notFoundOrUsage(err, "user", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed user %s\n", args[0])
			return nil
		}),
	}
	var newScopes []string
	setScopes := &cobra.Command{
		Use:   "scopes USERNAME --scopes a,b",
		Short: "Replace the scopes a user may grant (their next refresh is bounded by them)",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			if err := a.SetUserScopes(cmd.Context(), args[0], newScopes); err != nil {
				return notFoundOrUsage(err, "user", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s may grant %q\n", args[0], strings.Join(newScopes, " "))
			return nil
		}),
	}
	setScopes.Flags().StringSliceVar(&newScopes, "scopes", nil, "`scopes` the user may grant, comma-separated (none: empty)")

	unlock := &cobra.Command{
		Use:   "unlock USERNAME",
		Short: "Lift the login lockout of a user at once, on every network and browser (audited)",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			u, n, err := a.UnlockUser(cmd.Context(), args[0])
			if err != nil {
				return notFoundOrUsage(err, "user", args[0])
			}
			adminAudit(cmd, "login.unlocked", "user_id", u.ID, "username", u.Username, "records", n)
			fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s: %d lockout records deleted\n", u.Username, n)
			return nil
		}),
	}
	cmd.AddCommand(add, passwd, setScopes, list, remove, unlock)
	return cmd
}

// adminAudit writes an audit record of an administration command to standard error, as a JSON line
// of the same shape as the server's audit records, naming the operator (the OS user).
func adminAudit(cmd *cobra.Command, event string, args ...any) {
	operator := ""
	if u, err := user.Current(); err == nil {
		operator = u.Username
	}
	slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil)).Info("audit: "+event,
		append([]any{slog.String("audit", event), slog.String("operator", operator)}, args...)...)
}

// readPassword reads the password from the first line of in, or generates one.
func readPassword(in io.Reader, fromStdin bool) (password string, generated bool, err error) {
	if !fromStdin {
		return generatePassword(), true, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	password = strings.TrimRight(line, "\r\n")
	if len([]rune(password)) < authserver.MinPasswordLength {
		return "", false, withExitCode(exitUsage, fmt.Errorf("the password needs at least %d characters", authserver.MinPasswordLength))
	}
	return password, false, nil
}

// generatePassword returns a random password of 128 bits (26 base32 characters).
func generatePassword() string { return rand.Text() }

// notFoundOrUsage turns store.ErrNotFound into a clear usage error.
func notFoundOrUsage(err error, what, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return withExitCode(exitUsage, fmt.Errorf("no %s %q", what, name))
	}
	return err
}
