// A desktop MCP host stand-in: the official TypeScript SDK's stdio client spawns
// `mcpauth proxy URL` the way Claude Desktop or Cursor do, lists the tools and calls one.
//
//   node host.mjs <mcpauth binary> <MCP server URL> [rounds]
//
// It runs `rounds` rounds (default 1). Each round lists the tools and calls weather_forecast,
// printing one JSON line on stdout ({"round": n, "tools": [...], "city": ...}); between rounds
// it prints {"waiting": n} and waits for a line on stdin (the test restarts the server then).
// The proxy's environment is this script's, so MCPAUTH_CONFIG_DIR and BROWSER pass through.
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [bin, serverUrl, rounds = '1'] = process.argv.slice(2);
if (!bin || !serverUrl) {
  console.error('usage: host.mjs <mcpauth binary> <MCP server URL> [rounds]');
  process.exit(2);
}

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const transport = new StdioClientTransport({
  command: bin,
  args: ['proxy', serverUrl],
  env: process.env,
  stderr: 'inherit',
});
const client = new Client({ name: 'stdio-host', version: '1.0.0' });
await client.connect(transport);

for (let round = 1; round <= Number(rounds); round++) {
  if (round > 1) {
    out({ waiting: round });
    await lines.next();
  }
  const { tools } = await client.listTools();
  const res = await client.callTool({ name: 'weather_forecast', arguments: { city: 'Lisbon', days: 2 } });
  if (res.isError) {
    throw new Error(`tool error: ${JSON.stringify(res.content)}`);
  }
  out({ round, tools: tools.map((t) => t.name).sort(), city: res.structuredContent?.city, days: res.structuredContent?.forecast?.length });
}
await client.close();
out({ closed: true });
