// Exercises ioredis and node-redis, with their default settings, through redshard.
// Usage: node node_check.js PORT [PASSWORD]
// Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
const assert = require('assert');
const IORedis = require('ioredis');
const { createClient } = require('redis');

const port = Number(process.argv[2]);
const password = process.argv[3];

async function common(label, c, api) {
  const p = `js-${label}-`;
  for (const k of ['n', 'h', 'l']) await c.del(p + k);
  assert.strictEqual(await c.set(p + 'a', '1'), 'OK');
  assert.strictEqual(await c.get(p + 'a'), '1');
  const keys = Array.from({ length: 20 }, (_, i) => `${p}k${i}:x`);
  const pairs = [];
  for (const k of keys) pairs.push(k, k);
  assert.strictEqual(await api.mset(pairs), 'OK');
  assert.deepStrictEqual(await api.mget([...keys, p + 'missing']), [...keys, null]);
  assert.strictEqual(await c.incr(p + 'n'), 1);
  assert.ok(await c.expire(p + 'a', 100));
  const ttl = await c.ttl(p + 'a');
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  await api.hset(p + 'h', { f1: 'v1', f2: 'v2' });
  assert.deepStrictEqual({ ...(await api.hgetall(p + 'h')) }, { f1: 'v1', f2: 'v2' });
  await api.lpush(p + 'l', ['a', 'b', 'c']);
  assert.deepStrictEqual(await api.lrange(p + 'l', 0, -1), ['c', 'b', 'a']);
  assert.strictEqual(await api.eval("return redis.call('GET', KEYS[1])", [p + 'a']), '1');
  assert.strictEqual(await api.del(keys), 20);
  const replies = await api.pipeline100(p);
  assert.strictEqual(String(replies[replies.length - 1]), '99');
  console.log(`${label}: ok`);
}

async function ioredis(label, opts) {
  const c = new IORedis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, ...opts });
  await common(label, c, {
    mset: (pairs) => c.mset(...pairs),
    mget: (keys) => c.mget(...keys),
    hset: (k, obj) => c.hset(k, obj),
    hgetall: (k) => c.hgetall(k),
    lpush: (k, vals) => c.lpush(k, ...vals),
    lrange: (k, a, b) => c.lrange(k, a, b),
    eval: (script, keys) => c.eval(script, keys.length, ...keys),
    del: (keys) => c.del(...keys),
    pipeline100: async (p) => {
      const pipe = c.pipeline();
      for (let i = 0; i < 100; i++) pipe.set(`${p}p${i}`, i);
      pipe.get(`${p}p99`);
      return (await pipe.exec()).map(([err, v]) => { if (err) throw err; return v; });
    },
  });
  if (opts.connectionName) assert.strictEqual(await c.client('GETNAME'), opts.connectionName);
  c.disconnect();
}

async function nodeRedis(label, opts) {
  const c = createClient({ socket: { host: '127.0.0.1', port }, password, ...opts });
  c.on('error', (e) => console.error('node-redis error', e));
  await c.connect();
  await common(label, c, {
    mset: (pairs) => c.mSet(pairs),
    mget: (keys) => c.mGet(keys),
    hset: (k, obj) => c.hSet(k, obj),
    hgetall: (k) => c.hGetAll(k),
    lpush: (k, vals) => c.lPush(k, vals),
    lrange: (k, a, b) => c.lRange(k, a, b),
    eval: (script, keys) => c.eval(script, { keys }),
    del: (keys) => c.del(keys),
    pipeline100: async (p) => {
      const m = c.multi();
      for (let i = 0; i < 100; i++) m.set(`${p}p${i}`, String(i));
      m.get(`${p}p99`);
      return m.execAsPipeline();
    },
  });
  if (opts.name) assert.strictEqual(await c.clientGetName(), opts.name);
  await c.quit();
}

function withTimeout(p, ms) {
  return Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))]);
}

(async () => {
  const scenarios = [
    ['ioredis-default', () => ioredis('ioredis-default', {})],
    ['ioredis-db0', () => ioredis('ioredis-db0', { db: 0 })],
    ['ioredis-named', () => ioredis('ioredis-named', { connectionName: 'redshard-test' })],
    ['node-redis-default', () => nodeRedis('node-redis-default', {})],
    ['node-redis-db0', () => nodeRedis('node-redis-db0', { database: 0 })],
    ['node-redis-named', () => nodeRedis('node-redis-named', { name: 'redshard-test' })],
  ];
  let failed = 0;
  for (const [label, run] of scenarios) {
    try {
      await withTimeout(run(), 10000);
    } catch (e) {
      failed += 1;
      console.log(`${label}: FAILED: ${e.message}`);
    }
  }
  console.log(failed ? `FAILED: ${failed} scenario(s)` : 'ALL OK');
  process.exit(failed ? 1 : 0);
})();
