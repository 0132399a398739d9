// The official TypeScript MCP SDK client (@modelcontextprotocol/sdk) with its
// own OAuth client (discovery, dynamic client registration, PKCE, resource
// indicators), run against mcpauth's authorization server and MCP server.
//
//   node client.mjs <MCP server URL> <tool> [<JSON arguments>]
//
// The "user" is the authorization server's dev login, which answers the
// authorization request with a redirect carrying the code: the script GETs the
// authorization URL without following the redirect and hands the code to the
// SDK, as a redirect-handling app would. It prints one JSON line per step on
// stdout ({"step": ..., ...}); tokens, codes and secrets are never printed.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [serverUrl, toolName, toolArgs = '{}'] = process.argv.slice(2);
if (!serverUrl || !toolName) {
  console.error('usage: client.mjs <MCP server URL> <tool> [<JSON arguments>]');
  process.exit(2);
}

function step(name, fields = {}) {
  process.stdout.write(`${JSON.stringify({ step: name, ...fields })}\n`);
}

// The registered redirect URI; the authorization server redirects there with
// the code, and this script reads the code from that redirect.
const redirectUrl = 'http://127.0.0.1:7777/callback';

// An in-memory OAuthClientProvider, as a CLI would keep in a file.
class MemoryProvider {
  #client;
  #tokens;
  #verifier;
  #state;
  authorizationUrl;
  code;

  get redirectUrl() { return redirectUrl; }

  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK client (mcpauth interop)',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.#state = crypto.randomUUID();
    return this.#state;
  }

  clientInformation() { return this.#client; }

  saveClientInformation(info) {
    this.#client = info;
    step('registered', { client_id: info.client_id, token_endpoint_auth_method: info.token_endpoint_auth_method ?? null });
  }

  tokens() { return this.#tokens; }

  saveTokens(tokens) {
    this.#tokens = tokens;
    step('tokens', {
      token_type: tokens.token_type,
      scope: tokens.scope ?? null,
      expires_in: tokens.expires_in ?? null,
      refresh_token: Boolean(tokens.refresh_token),
    });
  }

  saveCodeVerifier(v) { this.#verifier = v; }

  codeVerifier() { return this.#verifier; }

  // The "browser": the dev login approves at once with a redirect.
  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    const p = url.searchParams;
    step('authorize', {
      endpoint: `${url.origin}${url.pathname}`,
      resource: p.get('resource'),
      scope: p.get('scope'),
      code_challenge_method: p.get('code_challenge_method'),
    });
    const res = await fetch(url, { redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || !location) {
      throw new Error(`authorization endpoint answered ${res.status} without a redirect`);
    }
    const back = new URL(location, url);
    if (back.searchParams.get('error')) {
      throw new Error(`authorization failed: ${back.searchParams.get('error')}`);
    }
    if (back.searchParams.get('state') !== this.#state) {
      throw new Error('authorization response state does not match');
    }
    this.code = back.searchParams.get('code');
    step('callback', { iss: back.searchParams.get('iss') });
  }
}

const provider = new MemoryProvider();
const newTransport = () => new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
const newClient = () => new Client({ name: 'mcpauth-tsclient-interop', version: '1.0.0' });

// withAuthorization runs op; when the SDK stops with UnauthorizedError after
// sending the user to the authorization server (first connect, or a step-up
// on 403 insufficient_scope), it completes the authorization with the code
// and runs op again, as an application does after its redirect comes back.
async function withAuthorization(transport, op) {
  for (let attempt = 0; ; attempt++) {
    provider.code = undefined;
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !provider.code || attempt === 2) {
        throw err;
      }
      await transport().finishAuth(provider.code);
    }
  }
}

let client;
let transport;
await withAuthorization(() => transport, async () => {
  client = newClient();
  transport = newTransport();
  await client.connect(transport);
});
step('connected', { server: client.getServerVersion()?.name ?? null });

const { tools } = await client.listTools();
step('tools', { names: tools.map((t) => t.name) });

const result = await withAuthorization(() => transport, () => client.callTool({ name: toolName, arguments: JSON.parse(toolArgs) }));
step('called', {
  tool: toolName,
  isError: Boolean(result.isError),
  text: result.content?.filter((c) => c.type === 'text').map((c) => c.text).join('\n') ?? '',
});
await client.close();
