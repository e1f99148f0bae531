// BullMQ through redshard, with the prefix its docs give for sharded Redis
// ('{bull}': every key, those its scripts build included, on one server):
// N jobs added (half in one addBulk pipeline, half one by one), run by a
// Worker in this process, every return value checked; then one more job
// awaited with waitUntilFinished (QueueEvents: XREAD BLOCK on the events
// stream), and the worker seen by getWorkers (CLIENT LIST). With VERSION,
// the Redis version BullMQ read from INFO (it gates features on it: 1 ms
// blocking timeouts from 7.0.8) must be that.
//
// Usage: node bullmq_app.js PORT [N [VERSION]]
// Prints 'ALL OK' at the end; exits non-zero on a failure.
const { Queue, Worker, QueueEvents } = require('bullmq');

const port = +process.argv[2];
const n = +(process.argv[3] || 300);
const version = process.argv[4];
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const prefix = '{bull}';

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
}

async function main() {
  const q = new Queue('jobs', { connection, prefix });
  if (version) {
    await q.waitUntilReady();
    const seen = q.getBackend().redisVersion;
    check(seen === version, `BullMQ read Redis ${seen}, the servers run ${version}`);
  }
  await q.obliterate({ force: true });
  const events = new QueueEvents('jobs', { connection, prefix });
  await events.waitUntilReady();

  const half = Math.floor(n / 2);
  await q.addBulk(Array.from({ length: half }, (_, i) => ({ name: 'add', data: { a: i, b: i } })));
  for (let i = half; i < n; i++) await q.add('add', { a: i, b: i });
  const counts = await q.getJobCounts('wait', 'completed');
  check(counts.wait === n && counts.completed === 0, 'counts before: ' + JSON.stringify(counts));

  let done = 0;
  const worker = new Worker('jobs', async (job) => job.data.a + job.data.b, {
    connection, prefix, concurrency: 8,
  });
  await new Promise((resolve, reject) => {
    worker.on('completed', () => { if (++done === n) resolve(); });
    worker.on('failed', (_job, e) => reject(e));
    worker.on('error', reject);
    setTimeout(() => reject(new Error(`only ${done} of ${n} jobs completed in 30 s`)), 30000).unref();
  });
  const jobs = await q.getJobs(['completed'], 0, n);
  check(jobs.length === n, `${jobs.length} completed jobs listed`);
  const wrong = jobs.filter((j) => j.returnvalue !== j.data.a + j.data.b);
  check(wrong.length === 0, `${wrong.length} wrong return values`);

  const last = await q.add('add', { a: 20, b: 22 });
  check((await last.waitUntilFinished(events, 10000)) === 42, 'waitUntilFinished');

  const workers = await q.getWorkers();
  check(workers.length === 1, `getWorkers listed ${workers.length} workers`);

  await worker.close();
  await events.close();
  await q.obliterate({ force: true });
  await q.close();
  console.log(`bullmq: ${n} jobs, every return value right; waitUntilFinished and getWorkers`);
  console.log('ALL OK');
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
