// A "browser" for tests, run through $BROWSER: it opens the authorization URL given as its
// argument with fetch, following the redirects (the dev login approves at once) to the
// client's loopback callback, and exits 0 when the callback page answered 200.
const res = await fetch(process.argv[2], { redirect: 'follow' });
process.exit(res.ok ? 0 : 1);
