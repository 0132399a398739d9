// oidc-provider v9 (an independent, OpenID-certified authorization server) set
// up the way a real MCP deployment would use it, for mcpauth's interop test.
//
//   node provider.mjs --resource <MCP server URL> [--resource ...] [--cimd-origin https://host=http://127.0.0.1:port ...]
//                     [--client '<client metadata JSON>' ...]
//
// --client pre-registers a client (e.g. a client_credentials backend with
// client_secret_basic or private_key_jwt and its public JWKS).
//
// It listens on an ephemeral port of 127.0.0.1 and writes one JSON line per
// event on stdout, the first being {"event":"ready","issuer":...}. The other
// events let the test count what the client asked for: "registration",
// "authorization_request", "authorization", "token", "token_error",
// "cimd_fetch"; GET /__test/mark?id=N logs {"event":"mark","id":"N"} so the
// test knows it has read every earlier line. No line carries a token, code or
// secret.
import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    resource: { type: 'string', multiple: true, default: [] },
    'cimd-origin': { type: 'string', multiple: true, default: [] },
    client: { type: 'string', multiple: true, default: [] },
  },
});
if (args.resource.length === 0) {
  console.error('usage: provider.mjs --resource URL [--resource URL ...] [--cimd-origin https://host=http://127.0.0.1:port ...] [--client JSON ...]');
  process.exit(2);
}
const resources = new Set(args.resource);
const resourceScope = 'mcp:tools';

// CIMD documents live at https URLs; the test serves them from a loopback
// server. oidc-provider's SSRF guard refuses loopback addresses, so only the
// test's own origins are routed there, and every other fetch keeps the guard.
const cimdOrigins = new Map(args['cimd-origin'].map((pair) => {
  const i = pair.indexOf('=');
  return [new URL(pair.slice(0, i)).origin, pair.slice(i + 1)];
}));

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

async function routedFetch(url, options) {
  const u = new URL(url);
  const target = cimdOrigins.get(u.origin);
  if (!target) {
    return fetch(url, options);
  }
  emit('cimd_fetch', { url: u.href });
  const { dispatcher, ...rest } = options; // the SSRF guard would refuse the loopback target
  return fetch(`${target}${u.pathname}${u.search}`, rest);
}

// Fresh signing keys per run: RS256 (the OpenID Connect default, for ID
// tokens) and ES256 (for the JWT access tokens).
function signingKey(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
}
const keys = [
  signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
  signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
];

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: args.client.map((json) => JSON.parse(json)),
  jwks: { keys },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access'],
  features: {
    devInteractions: { enabled: true }, // login + consent forms the test submits over HTTP
    registration: { enabled: true }, // RFC 7591, open registration
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    clientIdMetadataDocument: {
      enabled: true,
      ack: 'draft-02',
      allowFetch: (_ctx, clientId) => cimdOrigins.has(new URL(clientId).origin),
    },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      // Only the test's MCP servers are known resources: any other resource
      // indicator is an invalid_target error.
      getResourceServerInfo(_ctx, indicator) {
        if (!resources.has(indicator)) {
          throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        }
        return {
          scope: resourceScope,
          audience: indicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt', // RFC 9068: typ at+jwt, aud = resource
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  pkce: { required: () => true }, // v9 supports S256 only
  // A refresh token for every code grant of a client registered for the
  // refresh_token grant (by default oidc-provider wants offline_access with
  // prompt=consent, an OpenID Connect rule an OAuth 2.1 client does not follow).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: true, // a used refresh token is consumed; replaying it revokes the grant
  ttl: {
    AccessToken: 300,
    Grant: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
  fetch: routedFetch,
});

provider.on('registration_create.success', (_ctx, client) => {
  emit('registration', {
    client_id: client.clientId,
    application_type: client.applicationType,
    token_endpoint_auth_method: client.clientAuthMethod,
  });
});
provider.on('authorization.success', (ctx) => {
  emit('authorization', { client_id: ctx.oidc.client?.clientId, resource: ctx.oidc.params?.resource });
});
provider.on('grant.success', (ctx) => {
  const p = ctx.oidc.params;
  emit('token', { grant_type: p.grant_type, client_id: ctx.oidc.client?.clientId, resource: p.resource ?? null });
});
provider.on('grant.error', (ctx, err) => {
  emit('token_error', { grant_type: ctx.oidc.params?.grant_type, error: err.error, description: err.error_description });
});
provider.on('authorization.error', (ctx, err) => {
  emit('authorization_error', { error: err.error, description: err.error_description });
});
// Every request that reaches the authorization endpoint, including those that
// end in a login page: "zero authorizations" means none of these.
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mark') {
    // The test asks for a marker line to know it has read every earlier event.
    emit('mark', { id: String(ctx.query.id) });
    ctx.body = 'ok';
    return;
  }
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    emit('authorization_request', {
      client_id: ctx.query.client_id,
      resource: ctx.query.resource ?? null,
      scope: ctx.query.scope ?? null,
      code_challenge_method: ctx.query.code_challenge_method ?? null,
    });
  }
  await next();
});

server.on('request', provider.callback());
emit('ready', { issuer });

process.on('SIGTERM', () => server.close(() => process.exit(0)));
