import { test } from 'tap'
import { ClientClosedError } from 'redis'
import fastifyRedis, { redisHealth, type RedisCluster } from 'fastify-node-redis'
import { startCluster } from './helpers/cluster'
import { freePort } from './helpers/redis'
import { appWithLogs, eventually, sleep, testApp } from './helpers/app'
import { secret } from './helpers/secret-guard'
import { slotOf } from '../lib/driver/cluster'
import { killSwitch } from '../lib/driver/kill-switch'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    shared: RedisCluster
  }
}

test('the plugin\'s slot hash agrees with the server', async (t) => {
  const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 0 })
  for (const key of ['', 'a', 'fastify-node-redis:refresh:0', 'user:1000', 'é€', '{tag}x']) {
    if (key.includes('{')) continue // the plugin hashes keys it makes itself, which have no tags
    t.equal(slotOf(key), Number(await cluster.command(cluster.nodes[0].port, 'CLUSTER', 'KEYSLOT', key)), JSON.stringify(key))
  }
})

test('the kill switch: an AbortSignal only the plugin fires', async (t) => {
  const { signal, abort } = killSwitch() as { signal: AbortSignal, abort: () => void }
  let calls = 0
  const listener = (): void => { calls++ }
  const removed = (): void => { calls += 100 }
  signal.addEventListener('abort', listener)
  signal.addEventListener('abort', removed)
  signal.removeEventListener('abort', removed)
  t.equal(signal.dispatchEvent(new Event('abort')), false, 'nobody else can fire it')
  signal.throwIfAborted()
  t.equal(calls, 0)
  abort()
  t.equal(signal.aborted, false, 'Node never sees it aborted: it would destroy, then connect, a new socket')
  t.equal(calls, 1)
  signal.addEventListener('abort', listener)
  t.equal(calls, 1, 'a listener added after the abort waits for connect() to start…')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(calls, 2, '…and runs on the next tick')
})

test('a cluster connection: keys over every master, MULTI on hash-tagged keys, close', async (t) => {
  const cluster = await startCluster(t)
  const { app, logs } = appWithLogs(t, 'info')
  // A dead root node among live ones does not stop startup.
  const dead = `redis://127.0.0.1:${await freePort()}`
  await app.register(fastifyRedis, { prefix: 'SHARED', config: { SHARED_CLUSTER_NODES: [dead, ...cluster.rootUrls].join(',') } })
  const redis = app.redis.shared
  const masters = new Set<number>()
  for (let i = 0; i < 30; i++) {
    t.equal(await redis.set(`key:${i}`, String(i)), 'OK')
    masters.add(await cluster.masterOf(`key:${i}`))
  }
  t.equal(masters.size, 3, 'the keys live on all three masters')
  for (let i = 0; i < 30; i++) t.equal(await redis.get(`key:${i}`), String(i))
  t.same(await redis.multi().set('{cart}:a', '1').incr('{cart}:n').get('{cart}:a').exec(), ['OK', 1, '1'])
  const health = await redisHealth(app)
  t.match(health, { ok: true, connections: { shared: { status: 'ready' } } })
  t.notOk(logs.some((l) => l.level >= 40), 'the dead root node is not an outage')
  t.match(logs.filter((l) => l.level === 30 && / ready: /.test(l.msg)), [{ msg: /^redis connection "shared" ready: cluster redis:\/\/.+ \(3 masters\) in \d+ ms$/ }],
    'one info line: the nodes and the number of masters')
  await app.close()
  t.notOk(redis.isOpen)
  // A route still running during shutdown gets what a closed client gives (node-redis 4 and 5 threw a TypeError from their emptied slot map).
  const refused = async (what: string, command: () => Promise<unknown>): Promise<void> => {
    const err = await command().then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof ClientClosedError, `${what}: ClientClosedError`)
    t.equal((err as Error).message, 'The client is closed', what)
  }
  await refused('a command after close', async () => await redis.get('key:1'))
  await refused('in either spelling', async () => await redis.SET('key:1', 'x'))
  await refused('sendCommand()', async () => await redis.sendCommand('key:1', false, ['GET', 'key:1']))
  await refused('a MULTI still builds; its exec()', async () => await redis.multi().set('{cart}:a', '2').get('{cart}:a').exec())
  await refused('a pipeline', async () => await redis.MULTI().get('{cart}:a').execAsPipeline())
  await refused('subscribe() (an own property of the cluster on every major)', async () => await redis.subscribe('news', () => {}))
})

test('startup fails fast with FST_REDIS_CONNECT when no root node answers', async (t) => {
  const ports = [await freePort(), await freePort()]
  const app = testApp()
  t.teardown(() => app.close())
  const started = Date.now()
  await t.rejects(async () => {
    await app.register(fastifyRedis, { clusterNodes: ports.map((p) => `redis://:secret@127.0.0.1:${p}`) }).ready()
  }, { code: 'FST_REDIS_CONNECT', message: new RegExp(`connection "redis" to cluster redis://:\\*\\*\\*@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]} failed at startup`) })
  t.ok(Date.now() - started < 1000, `in ${Date.now() - started} ms`)
})

test('startup fails with FST_REDIS_CONNECT when a master is down, or paused', async (t) => {
  const cluster = await startCluster(t, { nodeTimeout: 5000 })
  const [first, second] = await cluster.masters()
  await cluster.kill(first)
  const a = testApp()
  t.teardown(() => a.close())
  let started = Date.now()
  await t.rejects(async () => { await a.register(fastifyRedis, { clusterNodes: cluster.rootUrls, connectTimeout: 1000 }).ready() }, { code: 'FST_REDIS_CONNECT', message: /ECONNREFUSED/ })
  t.ok(Date.now() - started < 1000, `dead master: ${Date.now() - started} ms`)

  await cluster.restart(first)
  await cluster.waitForState('ok')
  cluster.pause(second)
  t.teardown(() => cluster.resume(second))
  const b = testApp()
  t.teardown(() => b.close())
  started = Date.now()
  await t.rejects(async () => { await b.register(fastifyRedis, { clusterNodes: cluster.rootUrls.filter((u) => !u.endsWith(`:${second}`)), connectTimeout: 500 }).ready() }, { code: 'FST_REDIS_CONNECT', message: /no answer within 500 ms/ })
  t.ok(Date.now() - started < 1500, `paused master: ${Date.now() - started} ms`)
})

test('a master dies: its slots fail fast, the replica takes over, every slot is served again', async (t) => {
  const cluster = await startCluster(t, { nodeTimeout: 1000 })
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, {
    prefix: 'SHARED',
    clusterNodes: cluster.rootUrls,
    commandTimeout: 1000,
    clusterOptions: { defaults: { socket: { noDelay: false } } }
  })
  const redis = app.redis.shared
  const keys = Array.from({ length: 30 }, (_, i) => `k:${i}`)
  for (const key of keys) await redis.set(key, key)
  const victim = await cluster.masterOf(keys[0])
  const killedAt = Date.now()
  await cluster.kill(victim)
  await eventually(async () => {
    const started = Date.now()
    const failed = await redis.get(keys[0]).then(() => false, () => true)
    return failed && Date.now() - started < 100
  }, 3000)
  t.pass('a command for the dead master\'s slots fails fast instead of hanging')
  const recovered = await eventually(async () => {
    for (const key of keys) if (await redis.get(key) !== key) return false
    return true
  }, 20_000, 50)
  const after = Date.now() - killedAt
  t.comment(`every slot served again ${after} ms after the master was killed (cluster-node-timeout 1000 ms)`)
  t.ok(recovered < 15_000, `recovered in ${after} ms`)
  t.ok(logs.some((l) => l.level === 50 && l.redis === 'shared' && /lost/.test(l.msg)), 'the outage is logged with the connection name')
  await eventually(async () => logs.some((l) => l.level === 30 && /"shared" is ready again/.test(l.msg)), 2000)
  t.pass('and so is the recovery')
  t.equal(logs.filter((l) => l.level === 50).length, 1, 'once')
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 1000, `close with a dead node: ${Date.now() - started} ms`)
})

test('a paused master: its commands fail within the watchdog bound; close is bounded', async (t) => {
  const cluster = await startCluster(t, { nodeTimeout: 60_000 })
  const { app } = appWithLogs(t, 'silent')
  await app.register(fastifyRedis, { prefix: 'SHARED', clusterNodes: cluster.rootUrls, commandTimeout: 400, closeTimeout: 300 })
  const redis = app.redis.shared
  await redis.set('p', '1')
  const victim = await cluster.masterOf('p')
  cluster.pause(victim)
  t.teardown(() => cluster.resume(victim))
  const started = Date.now()
  const err = await redis.get('p').then(() => undefined, (e: Error) => e)
  t.comment(`paused master: ${err?.name}: ${err?.message}`)
  t.ok(err, 'the command is rejected')
  t.ok(Date.now() - started < 600 + 300, `failed after ${Date.now() - started} ms (bound 600 ms)`)
  const health = await redisHealth(app, { timeout: 200 })
  t.equal(health.ok, false)
  cluster.resume(victim)
  await eventually(async () => (await redis.get('p')) === '1')
  t.pass('commands succeed again once the master answers')
  cluster.pause(victim)
  await sleep(100)
  const closing = Date.now()
  await app.close()
  t.ok(Date.now() - closing < 1000, `close with a paused node: ${Date.now() - closing} ms`)
})

test('credentials and TLS reach every node', async (t) => {
  const password = 'cluster-Pa:55' // registered with the secret guard by startCluster
  const cluster = await startCluster(t, { password, tls: true })
  const { app, raw } = appWithLogs(t, 'trace')
  await app.register(fastifyRedis, {
    prefix: 'SHARED',
    clusterNodes: cluster.rootUrls.map((u) => u.replace('rediss://', `rediss://:${encodeURIComponent(password)}@`)),
    username: 'default',
    tls: { ca: cluster.certs!.caPem },
    clusterOptions: { useReplicas: true, defaults: { name: 'fnr' } }
  })
  for (let i = 0; i < 10; i++) await app.redis.shared.set(`s:${i}`, 'v')
  t.equal(await app.redis.shared.get('s:9'), 'v')
  const wrong = testApp()
  t.teardown(() => wrong.close())
  await t.rejects(async () => {
    await wrong.register(fastifyRedis, { clusterNodes: cluster.rootUrls, password: secret('not-the-cluster-password'), tls: { ca: cluster.certs!.caPem } }).ready()
  }, { code: 'FST_REDIS_CONNECT', message: /WRONGPASS/ })
  await app.close()
  t.notOk(raw.some((line) => line.includes(password)), 'no password in the logs')
})

test('a clientClass builds the cluster too', async (t) => {
  const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 0 })
  const { createCluster } = await import('redis')
  let built = 0
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, {
    clusterNodes: cluster.rootUrls,
    commandTimeout: 0,
    clientClass: (options) => { built++; return createCluster(options as Parameters<typeof createCluster>[0]) }
  })
  t.equal(built, 1)
  t.equal(await (app.redis as unknown as { redis: RedisCluster }).redis.set('x', '1'), 'OK')
  await t.rejects(async () => {
    const bad = testApp()
    t.teardown(() => bad.close())
    await bad.register(fastifyRedis, { clusterNodes: cluster.rootUrls, clientClass: () => ({ connect () {}, on () {} }) }).ready()
  }, { code: 'FST_REDIS_CLIENT_CLASS', message: /not a node-redis cluster/ })
  await sleep(600) // the cluster is still looked after without a command timeout
})
