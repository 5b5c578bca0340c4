import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'tap'
import { ClientClosedError } from 'redis'
import fastifyRedis, { redisHealth, type FastifyNodeRedisOptions, type RedisClientPool } from 'fastify-node-redis'
import { resolveOptions } from '../lib/options'
import { appWithLogs, eventually, sleep, startupError, testApp } from './helpers/app'
import { REDIS_MAJOR, since5 } from './helpers/major'
import { freePort, startRedis } from './helpers/redis'
import { secret } from './helpers/secret-guard'

/** The pool type where node-redis has pools (5+); on 4, where it is never, anything (those tests are skipped). */
type Pool = [RedisClientPool] extends [never] ? any : RedisClientPool
/** A connection execute() lends. */
type Lent = [RedisClientPool] extends [never] ? any : Parameters<Parameters<RedisClientPool['execute']>[0]>[0]

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    jobs: Pool
  }
}

const pools = since5('client pools (createClientPool)')
const VERSION = (JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8')) as { version: string }).version

/** How a promise settles within `ms`: 'resolved', 'rejected' or 'pending'. */
async function within (promise: Promise<unknown>, ms: number): Promise<string> {
  return await Promise.race([promise.then(() => 'resolved', () => 'rejected'), sleep(ms).then(() => 'pending')])
}

/** Registers a pool named jobs on a fresh app (closed in teardown). */
async function poolApp (t: { teardown (fn: () => unknown): void }, options: FastifyNodeRedisOptions): Promise<{ app: ReturnType<typeof testApp>, pool: Pool }> {
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { prefix: 'JOBS', pool: true, ...options })
  return { app, pool: app.redis.jobs }
}

test('pool option: true, the settings or a boolean config key; acquireTimeout defaults to commandTimeout', async (t) => {
  t.same(resolveOptions({ pool: true }).pool, { minimum: 1, maximum: 100, acquireTimeout: 5000, cleanupDelay: 3000 })
  t.same(resolveOptions({ pool: {}, commandTimeout: 700 }).pool, { minimum: 1, maximum: 100, acquireTimeout: 700, cleanupDelay: 3000 })
  t.same(resolveOptions({ pool: { minimum: 2, maximum: '4', acquireTimeout: 0, cleanupDelay: 10 } }).pool, { minimum: 2, maximum: 4, acquireTimeout: 0, cleanupDelay: 10 })
  t.same(resolveOptions({ prefix: 'JOBS', config: { JOBS_POOL: 'yes', JOBS_COMMAND_TIMEOUT: '900' } }).pool, { minimum: 1, maximum: 100, acquireTimeout: 900, cleanupDelay: 3000 })
  t.equal(resolveOptions({ pool: false }).pool, undefined)
  t.equal(resolveOptions({ config: { REDIS_POOL: '0' } }).pool, undefined)
  t.equal(resolveOptions({}).pool, undefined)
  t.same(resolveOptions({ pool: true, config: { REDIS_POOL: 'no' } }).pool?.minimum, 1, 'the option beats the config key')
  t.ok(Object.isFrozen(resolveOptions({ pool: true }).pool))
})

test('pool option errors name the key', async (t) => {
  const PW = secret('pool-options-Pa55')
  const cases: Array<[FastifyNodeRedisOptions, RegExp]> = [
    [{ pool: { minimum: 0 } }, /connection "redis": option "pool.minimum" must be an integer from 1 to 2147483647, got 0$/],
    [{ pool: { maximum: 'x' as '1' } }, /option "pool.maximum" must be an integer from 1 to 2147483647, got "x"/],
    [{ pool: { minimum: 1.5 } }, /option "pool.minimum" must be an integer/],
    [{ pool: { minimum: 5, maximum: 2 } }, /option "pool.minimum" must not exceed pool.maximum \(2\), got 5/],
    [{ pool: { minimum: 200 } }, /option "pool.minimum" must not exceed pool.maximum \(100, the default\), got 200/],
    [{ pool: { acquireTimeout: -1 } }, /option "pool.acquireTimeout" must be an integer from 0 to 2147483647, got -1/],
    [{ pool: { cleanupDelay: '1s' as '1' } }, /option "pool.cleanupDelay" must be an integer from 0 to 2147483647, got "1s"/],
    [{ pool: { max: 3 } as object }, /option "pool.max" is unknown: the pool takes minimum, maximum, acquireTimeout, cleanupDelay/],
    [{ pool: 5 as unknown as boolean }, /option "pool" must be a boolean: true or false .*, got 5/],
    [{ config: { REDIS_POOL: 'maybe' } }, /config key REDIS_POOL must be a boolean/],
    [{ pool: true, clusterNodes: 'redis://a:1' }, /option "pool" cannot be combined with cluster nodes \(option "clusterNodes"\)/],
    [{ config: { REDIS_POOL: 'true', REDIS_CLUSTER_NODES: `redis://:${PW}@a:1` } }, /config key REDIS_POOL cannot be combined with cluster nodes \(config key REDIS_CLUSTER_NODES\)/],
    [{ pool: true, client: { connect () {}, on () {} } }, /option "pool" cannot be combined with option "client"/],
    [{ pool: true, clientClass: () => ({}) }, /option "clientClass" cannot be combined with a pool \(option "pool"\): the pool builds its own clients/],
    [{ clientClass: 'redis#createClient', config: { REDIS_POOL: 1 } }, /option "clientClass" cannot be combined with a pool \(config key REDIS_POOL\)/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => resolveOptions(options), { code: 'FST_REDIS_CONFIG', message }, String(message))
  }
})

test('node-redis 4 refuses the pool option, and says what to use instead', { skip: REDIS_MAJOR >= 5 && `node-redis ${REDIS_MAJOR} has client pools` }, async (t) => {
  const { err } = await startupError(testApp(), { prefix: 'JOBS', pool: true, port: await freePort() })
  t.match(err, { code: 'FST_REDIS_CONFIG', message: `fastify-node-redis: connection "jobs": option "pool" needs redis 5 or later (${VERSION} is installed; on 4 use executeIsolated)` })
  const fromConfig = await startupError(testApp(), { config: { REDIS_POOL: 'true' } })
  t.match(fromConfig.err, { code: 'FST_REDIS_CONFIG', message: /connection "redis": config key REDIS_POOL needs redis 5 or later/ })
})

test('a blocking BLPOP on the pool does not hold up other commands, nor is it taken for a stalled server', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { pool } = await poolApp(t, { port: server.port, commandTimeout: 300 })
  const popped = pool.blPop('queue', 0)
  for (let i = 0; i < 20; i++) {
    t.equal(await pool.set(`k${i}`, String(i)), 'OK')
    t.equal(await pool.get(`k${i}`), String(i))
  }
  // Longer than commandTimeout: the watchdog must not drop the connection that blocks.
  await sleep(800)
  t.equal(await within(popped, 0), 'pending', 'BLPOP still waits')
  t.equal(await pool.lPush('queue', 'job-1'), 1)
  t.same(await popped, { key: 'queue', element: 'job-1' })
})

test('WATCH/MULTI on a connection lent by execute(): a conflicting write aborts the transaction', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { pool } = await poolApp(t, { port: server.port })
  await pool.set('balance', '10')
  const transfer = async (conflict: boolean): Promise<unknown> => await pool.execute(async (client: Lent) => {
    await client.watch('balance')
    const balance = Number(await client.get('balance'))
    // Another connection of the pool writes the watched key in between.
    if (conflict) await pool.set('balance', '0')
    return await client.multi().set('balance', String(balance - 1)).exec()
  })
  await t.rejects(transfer(true), { message: 'One (or more) of the watched keys has been changed' })
  t.equal(await pool.get('balance'), '0', 'the transaction did not run')
  t.same(await transfer(false), ['OK'])
  t.equal(await pool.get('balance'), '-1')
})

test('an exhausted pool fails the next command after acquireTimeout, with a clear error', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { pool } = await poolApp(t, { port: server.port, commandTimeout: 400, pool: { maximum: 1 } })
  const popped = pool.blPop('queue', 0)
  const next = pool.get('k')
  t.equal(await within(next, 5000), 'rejected', 'it does not wait for the BLPOP')
  await t.rejects(next, { message: /^Timeout waiting for a client/ })
  await server.command('LPUSH', 'queue', 'x')
  t.same(await popped, { key: 'queue', element: 'x' })
  t.equal(await pool.get('k'), null, 'the connection serves again')
})

test('Redis killed: pool commands, MULTI and execute() fail fast without opening connections, then recover after a restart', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, { prefix: 'JOBS', port: server.port, pool: { minimum: 2 } })
  const pool = app.redis.jobs
  t.equal(await pool.set('k', 'v'), 'OK')
  await server.kill()
  await eventually(async () => (await redisHealth(app)).connections.jobs.status === 'down')
  const attempts = Array.from({ length: 50 }, async () => await within(pool.get('k'), 2000))
  t.same(new Set(await Promise.all(attempts)), new Set(['rejected']), '50 concurrent commands fail at once')
  await t.rejects(pool.get('k'), { message: 'The client is offline' })
  await t.rejects(pool.multi().set('a', '1').exec(), { message: 'The client is offline' })
  await t.rejects(pool.execute(async (client: Lent) => await client.get('k')), { message: 'The client is offline' })
  t.ok(pool.totalClients <= 2, `no connection opened to wait (${pool.totalClients} in the pool)`)
  t.ok(logs.some((l) => l.level === 50 && /redis connection "jobs" lost/.test(l.msg)))
  await server.restart()
  await eventually(async () => (await pool.get('k')) === null)
  t.equal(await pool.set('k', 'again'), 'OK')
  await eventually(async () => logs.some((l) => l.level === 30 && /is ready again/.test(l.msg)))
  // Ready once every connection of the pool has reconnected (each with its own backoff).
  await eventually(async () => (await redisHealth(app)).connections.jobs.status === 'ready')
})

test('Redis paused: the watchdog drops the stalled connections, commands fail fast until it resumes, close stays bounded', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, { prefix: 'JOBS', port: server.port, pool: true, commandTimeout: 300, closeTimeout: 300 })
  const pool = app.redis.jobs
  t.equal(await pool.set('k', 'v'), 'OK')
  server.pause()
  t.teardown(() => server.resume())
  const stalled = pool.get('k')
  t.equal(await within(stalled, 3000), 'rejected', 'a stalled command is rejected, not left hanging')
  t.ok(logs.some((l) => l.level === 50 && /redis connection "jobs" lost \(no answer within 300 ms \(commandTimeout\)\)/.test(l.msg)))
  t.equal(await within(pool.get('k'), 1000), 'rejected', 'and the next fails fast while it stays paused')
  server.resume()
  await eventually(async () => (await pool.get('k')) === 'v')
  t.pass('commands answer again after the resume')

  server.pause()
  const pending = pool.get('k')
  pending.catch(() => {})
  t.equal(await within(app.close(), 3000), 'resolved', 'close finished with the server paused')
  server.resume()
})

test('close while the pool opens connections on demand to a paused server: bounded, and nothing left to crash the process', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, { prefix: 'JOBS', port: server.port, pool: { maximum: 5 }, commandTimeout: 2000, closeTimeout: 300 })
  const pool = app.redis.jobs
  t.equal(await pool.set('k', 'v'), 'OK')
  server.pause()
  t.teardown(() => server.resume())
  // One command waits on the stalled connection, four more make the pool open connections that cannot finish their handshake.
  const commands = Array.from({ length: 5 }, async () => await pool.get('k'))
  await eventually(async () => pool.totalClients === 5)
  t.equal(await within(app.close(), 3000), 'resolved', 'closed with the server paused')
  t.same(new Set((await Promise.allSettled(commands)).map((r) => r.status)), new Set(['rejected']))
  // node-redis 5 used to reject the connects of those connections with nobody listening: the process would exit here.
  await sleep(500)
})

test('startup: ready, or FST_REDIS_CONNECT within connectTimeout, with nothing left open', { skip: pools }, async (t) => {
  const refused = await startupError(testApp(), { prefix: 'JOBS', pool: { minimum: 3 }, port: await freePort(), connectTimeout: 2000 })
  t.match(refused.err, { code: 'FST_REDIS_CONNECT', message: /connection "jobs" to redis:\/\/localhost:\d+\/0 failed at startup: .*ECONNREFUSED/ })
  t.ok(refused.ms < 2000, `refused at once (${refused.ms} ms)`)

  const server = await startRedis(t)
  server.pause()
  t.teardown(() => server.resume())
  const silent = await startupError(testApp(), { prefix: 'JOBS', pool: { minimum: 2 }, port: server.port, connectTimeout: 300 })
  t.match(silent.err, { code: 'FST_REDIS_CONNECT', message: /failed at startup: no answer within 300 ms \(connectTimeout\)/ })
  server.resume()
  await eventually(async () => (await server.clients()).length === 0)
  t.pass('no connection left on the server')
})

test('a password and a db reach every connection of the pool; close leaves none open', { skip: pools }, async (t) => {
  const password = secret('pool-server-Pa55')
  const server = await startRedis(t, { password })
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, { prefix: 'JOBS', url: `redis://:${password}@127.0.0.1:${server.port}/3`, pool: { minimum: 2, maximum: 5 }, clientOptions: { name: 'pooled' } })
  const pool = app.redis.jobs
  t.ok(logs.some((l) => /redis connection "jobs" ready: redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/3 \(a pool of 2 to 5 connections\)/.test(l.msg)))
  // Four blocking commands at once need four connections.
  const pops = ['a', 'b', 'c', 'd'].map(async (q) => await pool.blPop(q, 0))
  await eventually(async () => (await server.clients()).filter((c) => c.name === 'pooled' && c.cmd === 'blpop').length === 4)
  for (const c of await server.clients()) t.match(c, { name: 'pooled', db: '3' })
  // A fifth connection, while four block.
  for (const q of ['a', 'b', 'c', 'd']) t.equal(await pool.lPush(q, q), 1)
  t.same((await Promise.all(pops)).map((r: { element: string } | null) => r?.element), ['a', 'b', 'c', 'd'])
  t.equal((await redisHealth(app)).connections.jobs.status, 'ready')
  await app.close()
  await eventually(async () => (await server.clients()).length === 0)
  t.pass('no connection left after close')
  // As on a closed client: not ClientOfflineError, which says "try again later".
  await t.rejects(pool.get('a'), new ClientClosedError(), 'a command after close: ClientClosedError')
  await t.rejects(pool.multi().get('a').exec(), new ClientClosedError(), 'a MULTI after close too')
  await t.rejects(pool.execute(async (client: Lent) => await client.get('a')), new ClientClosedError(), 'and execute()')
})

test('lazyConnect: the pool connects in the background and fails fast until it is ready', { skip: pools }, async (t) => {
  const port = await freePort()
  // The pool asked for by its config key this time.
  const { pool } = await poolApp(t, { pool: undefined, config: { JOBS_POOL: 'true', JOBS_PORT: String(port), JOBS_LAZY_CONNECT: 'yes' }, commandTimeout: 0 })
  await t.rejects(pool.get('k'), { message: 'The client is offline' })
  const server = await startRedis(t, { port })
  t.ok(server.port)
  await eventually(async () => (await pool.get('k')) === null, 8000)
  t.pass('answers once the server is up')
})

test('CLIENT KILL of every connection of the pool: they reconnect and serve again', { skip: pools }, async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { prefix: 'JOBS', port: server.port, pool: { minimum: 3 } })
  await server.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await eventually(async () => (await app.redis.jobs.get('k')) === null)
  // Three for the pool, one for the watchdog's PINGs.
  await eventually(async () => (await server.clients()).length === 4)
  t.equal((await redisHealth(app)).connections.jobs.status, 'ready')
})
