// `node e2e/node/main.ts <config.json>`: runs the local node until SIGTERM/SIGINT. The config is LocalNodeOptions
// as JSON (see node.ts); logs are JSON lines on stdout.
import { readFileSync } from 'node:fs';
import { type LocalNodeOptions, startLocalNode } from './node.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node e2e/node/main.ts <config.json>');
  process.exit(2);
}
let options: LocalNodeOptions;
try {
  options = JSON.parse(readFileSync(file, 'utf8')) as LocalNodeOptions;
} catch (err) {
  console.error(`cannot read node config ${file}: ${(err as Error).message}`);
  process.exit(2);
}
// A failed API call in a background loop is logged by the loop; anything that still escapes must not end the node.
process.on('unhandledRejection', (err) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), msg: 'unhandled rejection', error: String(err) }));
});
const node = await startLocalNode(options);
let stopping = false;
const shutdown = async (sig: string) => {
  if (stopping) return;
  stopping = true;
  console.log(JSON.stringify({ time: new Date().toISOString(), msg: 'stopping', signal: sig }));
  await node.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
