package authserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestDeviceUserCodeGuessingLimited (RFC 8628 §5.1): a signed-in user who enters ten unknown user
// codes in a minute is refused the eleventh lookup — even of a right code — with 429, audited
// device.refused; another user is not affected, and after a minute the right code works again.
func TestDeviceUserCodeGuessingLimited(t *testing.T) {
	clk := newClock()
	as := newTestAS(t, func(c *authserver.Config) { c.Now = clk.now })
	addUser(t, as, "peggy", "password-of-peggy", "weather:read")
	addUser(t, as, "quinn", "password-of-quinn", "weather:read")
	client := publicClient(t, as)
	_, userCode := startDevice(t, as, client)
	guesser := newBrowser(t)
	if st, _ := deviceSignIn(t, guesser, as, "BCDF-GHJK", "peggy", "password-of-peggy"); st != http.StatusBadRequest {
		t.Fatalf("sign-in with an unknown code: %d", st)
	}
	for i := range 9 {
		if st, _ := deviceSignIn(t, guesser, as, "BCDF-GHJ"+string(rune('L'+i)), "", ""); st != http.StatusBadRequest {
			t.Fatalf("unknown code %d of a signed-in user: %d", i+2, st)
		}
	}
	st, page := deviceSignIn(t, guesser, as, userCode, "", "")
	if st != http.StatusTooManyRequests || !strings.Contains(page, "Too many wrong codes") {
		t.Fatalf("the right code after ten unknown ones: %d\n%s", st, page)
	}
	if recs := as.Audit.records("device.refused"); len(recs) != 1 {
		t.Fatalf("device.refused records: %v", recs)
	}
	if st, page := deviceSignIn(t, newBrowser(t), as, userCode, "quinn", "password-of-quinn"); st != http.StatusOK || !strings.Contains(page, "weather:read") {
		t.Fatalf("another user during peggy's limit: %d", st)
	}
	clk.advance(time.Minute)
	if st, _ := deviceSignIn(t, guesser, as, userCode, "", ""); st != http.StatusOK {
		t.Fatalf("the right code a minute later: %d", st)
	}
}

// TestDeviceConsentWarnsOfRemotePhishing (RFC 8628 §5.4): the device consent page names the
// client and the code, and tells the user to approve only a device they started themselves.
func TestDeviceConsentWarnsOfRemotePhishing(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "rita", "password-of-rita", "weather:read")
	_, userCode := startDevice(t, as, publicClient(t, as))
	st, page := deviceSignIn(t, newBrowser(t), as, userCode, "rita", "password-of-rita")
	if st != http.StatusOK {
		t.Fatalf("consent page: %d", st)
	}
	for _, want := range []string{"Connect Test Client", `id="device-warning"`, "Approve only if you started this on your own device", userCode, "Never enter a code someone else sent you"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the device consent page lacks %q:\n%s", want, page)
		}
	}
}
