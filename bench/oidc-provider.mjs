// oidc-provider v9, the benchmark peer: configured like mcpauth's authorization server for the
// same work per request (ES256 RFC 9068 access tokens bound to one resource, client_credentials,
// open dynamic registration, refresh token rotation, PKCE S256), with its default in-memory
// storage and devInteractions login/consent forms.
//
//   node oidc-provider.mjs --node-modules DIR --resource URL --cc-secret SECRET
//
// DIR is where npm installed oidc-provider (test/node_modules).
// Listens on an ephemeral port of 127.0.0.1 and prints {"issuer":...} when ready. The client
// "bench-cc" (client_secret_basic, SECRET) may use client_credentials. Nothing is logged per
// request.
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { 'node-modules': { type: 'string' }, resource: { type: 'string' }, 'cc-secret': { type: 'string' } },
});
if (!args['node-modules'] || !args.resource || !args['cc-secret']) {
  console.error('usage: oidc-provider.mjs --node-modules DIR --resource URL --cc-secret SECRET');
  process.exit(2);
}
const entry = createRequire(`${args['node-modules']}/`).resolve('oidc-provider');
const { default: Provider, errors } = await import(pathToFileURL(entry));
const scope = 'weather:read stocks:read flights:read';

function jwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  // ES256 signs the access tokens; RS256 is there because OpenID Connect requires it for ID
  // tokens, which the benchmark never asks for.
  jwks: { keys: [jwk('ec', { namedCurve: 'P-256' }, 'ES256'), jwk('rsa', { modulusLength: 2048 }, 'RS256')] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', ...scope.split(' ')],
  clients: [{
    client_id: 'bench-cc',
    client_secret: args['cc-secret'],
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => args.resource,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, indicator) {
        if (indicator !== args.resource) {
          throw new errors.InvalidTarget('unknown resource');
        }
        return { scope, audience: indicator, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  expiresWithSession: async () => false,
  ttl: { Grant: 86400, Interaction: 600, RefreshToken: 86400, Session: 86400, ClientCredentials: 3600, AccessToken: 3600 },
});
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
