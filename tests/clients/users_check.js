// Logs in to redshard with a username and password through ioredis
// (`username` option) and node-redis (a redis://user:pass@ URL), as a user
// whose keys are app:*, and checks what it may and may not do.
// Usage: node users_check.js PORT USER PASSWORD
// Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
const assert = require('assert');
const IORedis = require('ioredis');
const { createClient } = require('redis');

const [port, user, password] = [Number(process.argv[2]), process.argv[3], process.argv[4]];

async function check(label, c, call) {
  const key = `app:js-${label}`;
  assert.strictEqual(await c.set(key, '1'), 'OK');
  assert.strictEqual(await c.get(key), '1');
  assert.strictEqual(String(await call(['ACL', 'WHOAMI'])), user);
  await assert.rejects(c.get(`other:${label}`), /NOPERM this user has no permissions to access one of the keys/);
  console.log(`${label}: ok`);
}

async function main() {
  const io = new IORedis({ host: '127.0.0.1', port, username: user, password, maxRetriesPerRequest: 1 });
  await check('ioredis', io, (args) => io.call(...args));
  io.disconnect();
  const url = `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const nr = createClient({ url });
  nr.on('error', () => {});
  await nr.connect();
  await check('node-redis', nr, (args) => nr.sendCommand(args));
  await nr.quit();
  const wrong = createClient({ url: `redis://${user}:wrong@127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
  wrong.on('error', () => {});
  await assert.rejects(wrong.connect(), /WRONGPASS/);
  console.log('node-redis wrong password: refused');
  console.log('ALL OK');
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
