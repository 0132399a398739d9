// A "browser" for oidc-provider's development login, run through $BROWSER: it opens the
// authorization URL given as its argument, submits the sign-in form (any password) and the
// consent form, keeping cookies and following redirects by hand, until it reaches the
// client's loopback callback. Exits 0 when the callback page answered 200.
const cookies = new Map(); // host -> Map(name -> value)

function remember(url, res) {
  const jar = cookies.get(url.host) ?? new Map();
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
  }
  cookies.set(url.host, jar);
}

async function request(url, init = {}) {
  const jar = cookies.get(url.host);
  const headers = { ...(init.headers ?? {}) };
  if (jar?.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  remember(url, res);
  return res;
}

let url = new URL(process.argv[2]);
let init = {};
for (let step = 0; step < 20; step++) {
  const res = await request(url, init);
  init = {};
  if (res.status >= 300 && res.status < 400) {
    url = new URL(res.headers.get('location'), url);
    continue;
  }
  const body = await res.text();
  const form = body.match(/<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/);
  if (!form) {
    process.exit(res.ok ? 0 : 1); // the callback page, or an error page
  }
  const params = new URLSearchParams();
  for (const [, attrs] of form[2].matchAll(/<input([^>]*)>/g)) {
    const name = attrs.match(/name="([^"]*)"/)?.[1];
    const value = attrs.match(/value="([^"]*)"/)?.[1] ?? '';
    if (name === 'login') params.set(name, 'alice');
    else if (name === 'password') params.set(name, 'any password');
    else if (name) params.set(name, value.replaceAll('&amp;', '&'));
  }
  url = new URL(form[1].replaceAll('&amp;', '&'), url);
  init = { method: 'POST', body: params.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}
process.exit(1);
