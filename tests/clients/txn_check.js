// ioredis and node-redis `multi()` through redshard (a same_server pool):
// a transaction on one server returns EXEC's replies; one with a key on
// another server is refused while queuing and runs none of its commands.
//
// Usage: node txn_check.js PORT A B OTHER  (A and B on one server, OTHER not)
// Prints 'ALL OK' at the end; exits non-zero on a failure.
const assert = require('assert');
const IORedis = require('ioredis');
const { createClient } = require('redis');

const port = Number(process.argv[2]);
const [a, b, other] = process.argv.slice(3);
const crossServer = /its key lives on another server/;

async function ioredis() {
  const c = new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  const got = await c.multi().set(a, 'io').incr(b).get(a).exec();
  assert.deepStrictEqual(got, [[null, 'OK'], [null, 1], [null, 'io']]);
  // ioredis rejects with EXEC's EXECABORT and keeps the queuing error.
  const err = await c.multi().set(a, 'x').set(other, 'y').incr(b).exec().then(
    (r) => assert.fail('not refused: ' + JSON.stringify(r)), (e) => e);
  assert.match(err.message, /^EXECABORT Transaction discarded because of previous errors/);
  assert.strictEqual(err.previousErrors.length, 1);
  assert.match(err.previousErrors[0].message, crossServer);
  assert.deepStrictEqual([await c.get(a), await c.get(b), await c.get(other)], ['io', '1', null]);
  console.log(`ioredis: refused with ${err.message} after ${err.previousErrors[0].message}`);
  c.disconnect();
}

async function nodeRedis() {
  const c = createClient({ socket: { host: '127.0.0.1', port } });
  c.on('error', (e) => console.error('node-redis error', e));
  await c.connect();
  assert.deepStrictEqual(await c.multi().set(a, 'nr').incr(b).get(a).exec(), ['OK', 2, 'nr']);
  // node-redis rejects with the first error reply, the queuing error; the
  // EXECABORT behind it is not shown.
  const err = await c.multi().set(a, 'x').set(other, 'y').incr(b).exec().then(
    (r) => assert.fail('not refused: ' + JSON.stringify(r)), (e) => e);
  assert.match(err.message, crossServer);
  assert.deepStrictEqual([await c.get(a), await c.get(b), await c.get(other)], ['nr', '2', null]);
  console.log(`node-redis: refused with ${err.message}`);
  await c.quit();
}

(async () => {
  await ioredis();
  await nodeRedis();
  console.log('ALL OK');
})().catch((e) => { console.error(e); process.exit(1); });
