// A desktop MCP host stand-in: the official TypeScript SDK's stdio client spawns
// `mcpauth proxy URL` the way Claude Desktop or Cursor do, lists the tools and calls one.
//
//   node host.mjs <mcpauth binary> <MCP server URL> [rounds] [tool] [JSON arguments]
//
// It runs `rounds` rounds (default 1). Each round lists the tools and calls the tool (default
// weather_forecast with {"city":"Lisbon","days":2}), printing one JSON line on stdout
// ({"round": n, "tools": [...], "result": <structured content, or the text content>}); between
// rounds it prints {"waiting": n} and waits for a line on stdin (a test restarts the server).
// The proxy's environment is this script's, so MCPAUTH_CONFIG_DIR and BROWSER pass through.
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [bin, serverUrl, rounds = '1', tool = 'weather_forecast', toolArgs = '{"city":"Lisbon","days":2}'] = process.argv.slice(2);
if (!bin || !serverUrl) {
  console.error('usage: host.mjs <mcpauth binary> <MCP server URL> [rounds] [tool] [JSON arguments]');
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
  const res = await client.callTool({ name: tool, arguments: JSON.parse(toolArgs) });
  if (res.isError) {
    throw new Error(`tool error: ${JSON.stringify(res.content)}`);
  }
  const result = res.structuredContent ?? res.content?.map((c) => c.text).join('');
  out({ round, tools: tools.map((t) => t.name).sort(), result });
}
await client.close();
out({ closed: true });
