package client

import (
	"testing"
)

func TestConnectRegistersAuthorizesAndCalls(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, b))
	defer s.Close()
	if got := callEcho(t, ctx, s, "hi"); got != "echo: hi" {
		t.Fatalf("echo = %q", got)
	}
	if n := as.count("register"); n != 1 {
		t.Errorf("registrations = %d, want 1", n)
	}
	if n := b.count(); n != 1 {
		t.Errorf("authorizations = %d, want 1", n)
	}
}
