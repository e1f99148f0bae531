// Iterates a keyspace through redshard with ioredis's scanStream and
// node-redis's scanIterator, default settings.
// Usage: node scan_check.js PORT PREFIX COUNT
// The proxy's pool holds COUNT keys named PREFIX<n> (n from 0), among others.
// Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
const IORedis = require('ioredis');
const { createClient } = require('redis');

const [port, prefix, count] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
let failed = 0;

function judge(label, got) {
  const want = new Set(Array.from({ length: count }, (_, i) => `${prefix}${i}`));
  const ok = got.length === want.size && got.every((k) => want.has(k)) && new Set(got).size === got.length;
  console.log(`${label}: ${ok ? 'ok' : 'FAILED'} (${got.length} keys)`);
  if (!ok) failed += 1;
}

async function ioredis(page) {
  const c = new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  const got = [];
  await new Promise((resolve, reject) => {
    const stream = c.scanStream({ match: `${prefix}*`, count: page });
    stream.on('data', (keys) => got.push(...keys));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  judge(`ioredis scanStream count=${page}`, got);
  c.disconnect();
}

async function nodeRedis(page) {
  const c = createClient({ socket: { host: '127.0.0.1', port } });
  c.on('error', (e) => console.error('node-redis error', e));
  await c.connect();
  const got = [];
  for await (const keys of c.scanIterator({ MATCH: `${prefix}*`, COUNT: page })) got.push(...keys);
  judge(`node-redis scanIterator count=${page}`, got);
  await c.quit();
}

(async () => {
  for (const page of [10, 1000]) {
    await ioredis(page);
    await nodeRedis(page);
  }
  console.log(failed ? `FAILED: ${failed} scenario(s)` : 'ALL OK');
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`FAILED: ${e.stack}`);
  process.exit(1);
});
