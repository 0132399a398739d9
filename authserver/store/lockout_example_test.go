package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// Three failed sign-ins within ten minutes lock the key for fifteen; while it is locked nothing
// more is counted, and a successful sign-in cannot clear it.
func ExampleLockoutStore() {
	dir, _ := os.MkdirTemp("", "lockout")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "mcpauth.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	policy := store.LockoutPolicy{Failures: 3, Window: 10 * time.Minute, Lock: 15 * time.Minute, MaxLock: 24 * time.Hour}
	t0 := time.Date(2026, 7, 28, 9, 0, 0, 0, time.UTC)

	for i := range 4 {
		until, err := st.RecordLoginFailure(ctx, "account:u_alice", t0.Add(time.Duration(i)*time.Minute), policy)
		if err != nil {
			log.Fatal(err)
		}
		if until.IsZero() {
			fmt.Printf("failure %d: not locked by it\n", i+1)
		} else {
			fmt.Printf("failure %d: locked until %s\n", i+1, until.Format(time.TimeOnly))
		}
	}
	_ = st.ClearLoginFailures(ctx, []string{"account:u_alice"}, t0.Add(5*time.Minute))
	recs, _ := st.GetLoginFailures(ctx, []string{"account:u_alice"})
	fmt.Println("locked at 09:16:", recs[0].Locked(t0.Add(16*time.Minute)), "at 09:17:", recs[0].Locked(t0.Add(17*time.Minute)))
	// Output:
	// failure 1: not locked by it
	// failure 2: not locked by it
	// failure 3: locked until 09:17:00
	// failure 4: not locked by it
	// locked at 09:16: true at 09:17: false
}
