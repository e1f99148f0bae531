// Publish/subscribe through redshard with ioredis and node-redis, default settings.
// Usage: node pubsub_check.js PORT
// ioredis: four publishers send 2,500 messages each; three subscribers (one
// also by pattern) must get every one exactly once, in each publisher's order.
// node-redis with RESP3: a subscription and ordinary commands on one
// connection, the messages arriving as pushes between the replies.
// Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
const assert = require('assert');
const IORedis = require('ioredis');
const { createClient } = require('redis');

const port = Number(process.argv[2]);
const PUBLISHERS = 4, PER_PUBLISHER = 2500, SUBSCRIBERS = 3;

async function ioredis() {
  const channels = Array.from({ length: PUBLISHERS }, (_, i) => `io:ch${i}`);
  const subs = [];
  const done = [];
  for (let k = 0; k < SUBSCRIBERS; k++) {
    const s = new IORedis({ host: '127.0.0.1', port });
    const want = PUBLISHERS * PER_PUBLISHER * (k === 0 ? 2 : 1);
    const next = new Map();
    let got = 0;
    done.push(new Promise((resolve, reject) => {
      const check = (kind, msg) => {
        const [pub, n] = msg.split(':').map(Number);
        const key = `${kind}${pub}`;
        const expected = next.get(key) || 0;
        if (n !== expected) reject(new Error(`subscriber ${k}: ${kind} from ${pub}: got ${n}, expected ${expected}`));
        next.set(key, n + 1);
        if (++got === want) resolve();
      };
      s.on('message', (ch, msg) => check('message', msg));
      s.on('pmessage', (pat, ch, msg) => check('pmessage', msg));
      setTimeout(() => reject(new Error(`subscriber ${k}: ${got} of ${want}`)), 60000).unref();
    }));
    await s.subscribe(...channels);
    if (k === 0) await s.psubscribe('io:*');
    subs.push(s);
  }
  const started = Date.now();
  await Promise.all(channels.map(async (ch, i) => {
    const c = new IORedis({ host: '127.0.0.1', port });
    for (let start = 0; start < PER_PUBLISHER; start += 250) {
      const pipe = c.pipeline();
      for (let n = start; n < start + 250; n++) pipe.publish(ch, `${i}:${n}`);
      for (const [err, v] of await pipe.exec()) {
        if (err) throw err;
        assert.strictEqual(v, SUBSCRIBERS + 1);
      }
    }
    c.disconnect();
  }));
  await Promise.all(done);
  console.log(`ioredis: ok (${PUBLISHERS * PER_PUBLISHER} messages to ${SUBSCRIBERS} subscribers in ${Date.now() - started} ms)`);
  for (const s of subs) s.disconnect();
}

async function nodeRedisResp3() {
  const c = createClient({ socket: { host: '127.0.0.1', port }, RESP: 3 });
  c.on('error', (e) => console.error('node-redis error', e));
  await c.connect();
  const seen = [];
  await c.subscribe('nr:ch', (msg) => seen.push(msg));
  await c.pSubscribe('nr:p*', (msg, ch) => seen.push(`${ch}/${msg}`));
  // Ordinary commands on the subscribed connection (RESP3 allows it).
  assert.strictEqual(await c.set('nr:k', 'v'), 'OK');
  const pub = createClient({ socket: { host: '127.0.0.1', port } });
  await pub.connect();
  for (let i = 0; i < 100; i++) {
    assert.strictEqual(await pub.publish('nr:ch', `m${i}`), 1);
    assert.strictEqual(await c.get('nr:k'), 'v');
  }
  assert.strictEqual(await pub.publish('nr:pat', 'x'), 1);
  const deadline = Date.now() + 10000;
  while (seen.length < 101 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepStrictEqual(seen, [...Array.from({ length: 100 }, (_, i) => `m${i}`), 'nr:pat/x']);
  await c.unsubscribe('nr:ch');
  await c.pUnsubscribe('nr:p*');
  assert.strictEqual(await c.get('nr:k'), 'v');
  await c.quit();
  await pub.quit();
  console.log('node-redis RESP3: ok (pushes between replies on one connection)');
}

(async () => {
  await ioredis();
  await nodeRedisResp3();
  console.log('ALL OK');
  process.exit(0);
})().catch((e) => {
  console.error('FAILED:', e);
  process.exit(1);
});
