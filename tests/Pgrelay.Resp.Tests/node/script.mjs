// node-redis v5 over RESP3 with its client-side cache, against pgrelay (port in argv[2]).
// Talks to NodeClientTests.cs with JSON lines: reads, waits for "changed" on stdin, then reads again until
// the server's invalidation has evicted the cached hashes and the new values come back.
import { createClient, BasicClientSideCache } from 'redis';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2]);
const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0 });   // no expiry: only an invalidation can evict
const client = createClient({ socket: { host: '127.0.0.1', port }, RESP: 3, clientSideCache: cache });
client.on('error', e => console.error('client error', e));
const say = o => console.log(JSON.stringify(o));
const stdin = createInterface({ input: process.stdin });
const nextLine = () => new Promise(resolve => stdin.once('line', resolve));

try {
  await client.connect();
  const first = await client.hGetAll('pub.users.2');
  const again = await client.hGetAll('pub.users.2');
  const city = await client.hGet('pub.cities.Tulsa/OK', 'population');
  say({ step: 'cached', first, again, city, hits: cache.stats().hitCount, misses: cache.stats().missCount });

  await nextLine();   // the test has committed a transaction that changes both rows
  const deadline = Date.now() + 10_000;
  let value, population, polls = 0;
  do {
    polls++;
    value = await client.hGetAll('pub.users.2');
    population = await client.hGet('pub.cities.Tulsa/OK', 'population');
    if (value.name !== first.name && population !== city) break;
    await new Promise(r => setTimeout(r, 20));
  } while (Date.now() < deadline);
  say({ step: 'invalidated', value, population, polls, hits: cache.stats().hitCount, misses: cache.stats().missCount });
} catch (e) {
  say({ step: 'error', message: String(e) });
} finally {
  stdin.close();
  await client.close().catch(() => client.destroy());
}
