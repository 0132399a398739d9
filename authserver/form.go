// Request bodies of the token, revocation, introspection and device authorization endpoints:
// application/x-www-form-urlencoded (RFC 6749 §3.2, Appendix B), read once into r.PostForm.
package authserver

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxTokenRequestBytes bounds a token, revocation or introspection request body.
const maxTokenRequestBytes = 64 << 10

// maxFormParams is the most parameters a form may have: net/url's limit for a query, so that
// a body parses here as url.ParseQuery would parse it.
const maxFormParams = 10000

// readForm parses an application/x-www-form-urlencoded POST body of bounded size into
// r.PostForm and r.Form, with r.ParseForm's result for such a body. A request of that type
// whose form was read already is left as it is, so the rate-limit guard and the endpoint read
// it once.
func readForm(w http.ResponseWriter, r *http.Request) *oauthError {
	const form = "application/x-www-form-urlencoded"
	if ct := r.Header.Get("Content-Type"); ct != form { // parsed only when not the plain type
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != form {
			return newError(errInvalidRequest, "the request body must be application/x-www-form-urlencoded")
		}
	}
	if r.PostForm != nil {
		return nil
	}
	body, err := readBody(w, r, maxTokenRequestBytes)
	if err != nil {
		return newError(errInvalidRequest, "the request body cannot be parsed")
	}
	if r.PostForm, err = parseForm(body); err != nil {
		return newError(errInvalidRequest, "the request body cannot be parsed")
	}
	if r.URL.RawQuery == "" {
		r.Form = r.PostForm
	} else if err := r.ParseForm(); err != nil { // adds the query to r.Form
		return newError(errInvalidRequest, "the request body cannot be parsed")
	}
	return nil
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads a body of at most max bytes: one exact read when its length is declared (as
// every client but a chunked one declares it), else through http.MaxBytesReader.
func readBody(w http.ResponseWriter, r *http.Request, max int64) (string, error) {
	switch {
	case r.ContentLength > max:
		return "", errBodyTooLarge
	case r.ContentLength >= 0:
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return "", err
		}
		return string(b), nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	return string(b), err
}

// parseForm decodes a urlencoded form as url.ParseQuery does, and fails where it reports an
// error (an invalid escape, a ';' in a parameter, more than maxFormParams parameters), with
// fewer allocations: the values of the parameters share backing arrays.
func parseForm(s string) (url.Values, error) {
	n := strings.Count(s, "&") + 1
	if n > maxFormParams {
		return nil, errors.New("form: too many parameters")
	}
	// Sized for the parameters of a usual request, not for n: a body of many empty parameters
	// must not make large allocations.
	form := make(url.Values, min(n, 8))
	values := make([]string, 0, min(n, 8))
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if strings.Contains(pair, ";") {
			return nil, errors.New("form: ';' in a parameter")
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, err
		}
		if old, ok := form[k]; ok {
			form[k] = append(old, v) // old has no spare capacity: this copies
			continue
		}
		values = append(values, v)
		form[k] = values[len(values)-1 : len(values) : len(values)]
	}
	return form, nil
}
