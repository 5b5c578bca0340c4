import * as dc from 'node:diagnostics_channel'
import { test } from 'tap'
import { Gauge, Registry } from 'prom-client'
import { createClient } from 'redis'
import fastifyRedis, { redisMetrics, type RedisClientPool, type RedisCluster, type RedisConnectionMetrics } from 'fastify-node-redis'
import { ConnectionMetrics, errorClass, LATENCY_BUCKETS_MS, metricsOf } from '../lib/metrics'
import { resolveOptions } from '../lib/options'
import { startCluster } from './helpers/cluster'
import { REDIS_MAJOR, since5 } from './helpers/major'
import { startRedis } from './helpers/redis'
import { appWithLogs, eventually, sleep } from './helpers/app'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    a: RedisClient
    b: RedisClient
    shards: RedisCluster
    /** The pool type where node-redis has pools (5+); on 4, where it is never, anything (the test is skipped). */
    pooled: [RedisClientPool] extends [never] ? any : RedisClientPool
  }
}

/** The metrics of connection `name`, on. */
function on (app: Parameters<typeof redisMetrics>[0], name: string): RedisConnectionMetrics {
  const found = redisMetrics(app).connections[name]
  if (found?.enabled !== true) throw new Error(`no metrics for ${name}`)
  return found
}

/** The value of one sample line of a Prometheus text exposition. */
function sample (text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

const commandTraces = dc.tracingChannel('node-redis:command')
/** Stands for an OpenTelemetry instrumentation: a subscriber of node-redis's command traces that is not the plugin. */
const tracer = { start () {}, asyncEnd () {} } as unknown as dc.TracingChannelSubscribers<object>

for (const traced of [false, true]) {
  const how = traced
    ? 'with another subscriber of node-redis:command (OpenTelemetry, say): node-redis 5.12+ and 6 clients are counted from its traces'
    : 'with nothing else tracing node-redis: the plugin\'s own layer, and no diagnostics channel subscription'
  test(`commands, failures by error class and latency are counted, and redisMetrics reports them as plain JSON, ${how}`, async (t) => {
    if (traced) {
      commandTraces.subscribe(tracer)
      t.teardown(() => commandTraces.unsubscribe(tracer))
    }
    const server = await startRedis(t)
    const { app } = appWithLogs(t)
    // No watchdog: its PINGs would count too.
    await app.register(fastifyRedis, { port: server.port, metrics: true, commandTimeout: 0 })
    const redis = app.redis.redis
    const before = on(app, 'redis')
    t.equal(before.state, 'ready')
    t.equal(before.commands, 1, 'the startup PING')
    await redis.set('k', 'v')
    await redis.get('k')
    await redis.hGetAll('h')
    await redis.sendCommand(['PING'])
    await redis.multi().set('m', '1').get('m').exec()
    await redis.multi().set('p', '1').get('p').execAsPipeline()
    const wrongType = await redis.lPush('k', 'x').then(() => undefined, (err: Error) => err)
    t.ok(wrongType, 'LPUSH on a string fails')
    const after = on(app, 'redis')
    t.equal(after.commands, 1 + 7, 'each command, sendCommand and each exec() count once')
    t.strictSame(after.errors, { [wrongType!.constructor.name]: 1 })
    // node-redis 5 and 6 reply with a subclass of ErrorReply, SimpleError.
    t.equal(wrongType!.constructor.name, REDIS_MAJOR === 4 ? 'ErrorReply' : 'SimpleError', 'a reply error is counted by its class')
    t.equal(after.latency.count, after.commands, 'every command is timed')
    t.strictSame(after.latency.bucketsMs, LATENCY_BUCKETS_MS)
    t.ok(after.latency.counts.every((n, i) => i === 0 || n >= after.latency.counts[i - 1]), 'cumulative buckets')
    t.ok(after.latency.counts[after.latency.counts.length - 1] <= after.latency.count)
    t.ok(after.latency.sumMs > 0)
    t.match(after, { reconnects: 0, downMs: 0, channels: 0, messages: 0 })
    t.strictSame(JSON.parse(JSON.stringify(redisMetrics(app))).connections.redis, on(app, 'redis'), 'JSON-serialisable')
    if (traced) {
      commandTraces.unsubscribe(tracer)
      // node-redis 5.12+ and 6 clients give an id to match traces by; node-redis 4 has no traces, and the layer counts.
      t.equal(commandTraces.hasSubscribers, REDIS_MAJOR >= 5, 'the plugin reads the traces where the client has them')
      await app.close()
      t.equal(commandTraces.hasSubscribers, false, 'and stops reading them at close')
    } else {
      t.equal(commandTraces.hasSubscribers, false, 'metrics on subscribe to nothing when nothing else traces')
    }
  })
}

test('a command while the server is killed fails with ClientOfflineError; down time grows during the outage; a restart counts one reconnect', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  const registry = new Registry()
  await app.register(fastifyRedis, { port: server.port, metrics: registry })
  await server.kill()
  await eventually(async () => on(app, 'redis').state === 'down')
  const offline = await app.redis.redis.get('k').then(() => undefined, (err: Error) => err)
  t.equal(offline?.constructor.name, 'ClientOfflineError')
  await t.rejects(app.redis.redis.multi().get('k').exec(), 'a MULTI fails fast too')
  t.equal(on(app, 'redis').errors.ClientOfflineError, 2, 'both counted')
  const first = on(app, 'redis').downMs
  await sleep(60)
  t.ok(on(app, 'redis').downMs >= first + 50, 'the current outage counts up to now')
  t.equal(on(app, 'redis').reconnects, 0)
  const down = await registry.metrics()
  t.equal(sample(down, 'redis_up{connection="redis"}'), 0)
  t.ok(sample(down, 'redis_down_seconds_total{connection="redis"}')! >= 0.05)
  await server.restart()
  await eventually(async () => on(app, 'redis').state === 'ready')
  const back = on(app, 'redis')
  t.equal(back.reconnects, 1)
  t.equal(sample(await registry.metrics(), 'redis_reconnects_total{connection="redis"}'), 1)
  t.ok(back.downMs >= 60)
  await sleep(20)
  t.equal(on(app, 'redis').downMs, back.downMs, 'down time stops growing once it is back')
})

test('a lazy connection that could not connect at first: down time counted, no reconnect', async (t) => {
  const server = await startRedis(t)
  await server.kill()
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, lazyConnect: true, metrics: 'yes' })
  await eventually(async () => on(app, 'redis').state === 'down')
  await server.restart()
  await eventually(async () => on(app, 'redis').state === 'ready')
  t.equal(on(app, 'redis').reconnects, 0, 'it had never been ready')
  t.ok(on(app, 'redis').downMs > 0)
})

test('a prom-client Registry: two connections under the same names with their own labels, scraped with registry.metrics(); gone once the app closes', async (t) => {
  const server = await startRedis(t)
  const registry = new Registry()
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'A', port: server.port, metrics: registry, commandTimeout: 0 })
  await app.register(fastifyRedis, { prefix: 'B', port: server.port, db: 1, metrics: registry, commandTimeout: 0 })
  await app.redis.a.set('k', 'v')
  await app.redis.a.get('k')
  await app.redis.a.lPush('k', 'x').catch(() => {})
  await app.redis.b.get('k')
  metricsOf(app.redis.b)!.subscriptions(2)
  metricsOf(app.redis.b)!.message()
  const text = await registry.metrics()
  t.equal(sample(text, 'redis_commands_total{connection="a"}'), 4, 'PING, SET, GET, LPUSH')
  t.equal(sample(text, 'redis_commands_total{connection="b"}'), 2, 'PING, GET')
  t.equal(sample(text, `redis_command_errors_total{connection="a",error="${REDIS_MAJOR === 4 ? 'ErrorReply' : 'SimpleError'}"}`), 1)
  t.equal(sample(text, 'redis_command_duration_seconds_count{connection="a"}'), 4)
  t.equal(sample(text, 'redis_command_duration_seconds_bucket{le="+Inf",connection="a"}') ?? sample(text, 'redis_command_duration_seconds_bucket{connection="a",le="+Inf"}'), 4)
  t.match(text, /redis_command_duration_seconds_bucket\{[^}]*le="0.0005"[^}]*\} \d+/)
  t.ok(sample(text, 'redis_command_duration_seconds_sum{connection="a"}')! > 0)
  t.equal(sample(text, 'redis_up{connection="a"}'), 1)
  t.equal(sample(text, 'redis_reconnects_total{connection="b"}'), 0)
  t.equal(sample(text, 'redis_down_seconds_total{connection="a"}'), 0)
  t.equal(sample(text, 'redis_subscriber_channels{connection="b"}'), 2)
  t.equal(sample(text, 'redis_subscriber_messages_total{connection="b"}'), 1)
  t.match(text, /# TYPE redis_command_duration_seconds histogram/)
  t.match(text, /# TYPE redis_commands_total counter/)
  t.match(text, /# TYPE redis_up gauge/)
  registry.resetMetrics()
  t.equal(sample(await registry.metrics(), 'redis_commands_total{connection="a"}'), 4, 'resetMetrics() leaves the connection\'s counters alone')

  await app.close()
  t.notMatch(await registry.metrics(), /redis_/, 'nothing reported once the app is closed')
  const { app: next } = appWithLogs(t)
  await next.register(fastifyRedis, { prefix: 'A', port: server.port, metrics: registry })
  const again = await registry.metrics()
  t.equal(sample(again, 'redis_commands_total{connection="a"}'), 1, 'a new app registers in the same registry, from zero')
  t.equal(sample(again, 'redis_commands_total{connection="b"}'), undefined)
})

test('a registry that already has a metric of that name is refused', async (t) => {
  const server = await startRedis(t)
  const registry = new Registry()
  const up = new Gauge({ name: 'redis_up', help: 'someone else\'s', registers: [registry] })
  up.set(1)
  const { app } = appWithLogs(t)
  app.register(fastifyRedis, { port: server.port, metrics: registry })
  await t.rejects(async () => await app.ready(), { code: 'FST_REDIS_CONFIG', message: /connection "redis": option "metrics": the registry already has a metric named redis_up/ })
  t.match(await registry.metrics(), /someone else's/)
})

test('a child context sees its parent\'s connections in redisMetrics, the parent not the child\'s; a connection without metrics is enabled: false', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'A', port: server.port, metrics: true })
  let child: Parameters<typeof redisMetrics>[0] | undefined
  await app.register(async (scope) => {
    await scope.register(fastifyRedis, { prefix: 'B', port: server.port })
    child = scope
  })
  await app.ready()
  t.strictSame(Object.keys(redisMetrics(app).connections), ['a'])
  const seen = redisMetrics(child!).connections
  t.strictSame(Object.keys(seen).sort(), ['a', 'b'])
  t.equal(seen.a.enabled, true)
  t.strictSame(seen.b, { enabled: false })
})

test('metrics off (the default): nothing is hooked or recorded', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  await app.redis.redis.get('k')
  t.strictSame(redisMetrics(app), { connections: { redis: { enabled: false } } })
  t.equal(metricsOf(app.redis.redis), undefined)
  t.not((app.redis.redis as unknown as { Multi: { name: string } }).Multi.name, 'MeteredMulti', 'MULTI is not wrapped')
  t.equal(dc.tracingChannel('node-redis:command').hasSubscribers, false, 'no diagnostics channel subscription')
  t.strictSame(redisMetrics(appWithLogs(t).app), { connections: {} }, 'a context without connections')
})

test('a client passed in: counted while the app runs, left as it was after close', async (t) => {
  const server = await startRedis(t)
  const client = createClient({ socket: { port: server.port } })
  client.on('error', () => {})
  await client.connect()
  t.teardown(async () => { if (client.isOpen) await client.disconnect() })
  const proto = Object.getPrototypeOf(client)
  const Multi = (client as unknown as { Multi: unknown }).Multi
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { client, metrics: true })
  await client.get('k')
  t.equal(on(app, 'redis').commands, 2, 'the startup PING and GET')
  const metrics = metricsOf(client)!
  await app.close()
  t.equal(Object.getPrototypeOf(client), proto)
  t.equal((client as unknown as { Multi: unknown }).Multi, Multi)
  t.equal(dc.tracingChannel('node-redis:command').hasSubscribers, false)
  await client.get('k')
  await client.multi().get('k').exec()
  t.equal(metrics.commands, 2, 'nothing is counted after close')
})

test('node-redis 5 and 6: commands sent through a wrapper of the client (withTypeMapping) count too; close takes the timing off again', { skip: since5('withTypeMapping()') }, async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, metrics: true, commandTimeout: 0 })
  const redis = app.redis.redis as unknown as { withTypeMapping (mapping: object): { get (key: string): Promise<unknown> }, _self: object }
  const before = on(app, 'redis').commands
  await redis.withTypeMapping({}).get('k')
  t.equal(on(app, 'redis').commands, before + 1)
  t.ok(Object.hasOwn(redis._self, 'sendCommand'), 'timed at the one method every command goes through')
  await app.close()
  t.notOk(Object.hasOwn(redis._self, 'sendCommand'), 'taken off at close')
})

test('a cluster connection is counted at the cluster level', async (t) => {
  const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 0 })
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'SHARDS', clusterNodes: cluster.rootUrls, metrics: true, commandTimeout: 0 })
  const before = on(app, 'shards').commands
  for (const key of ['a', 'b', 'c', 'd']) await app.redis.shards.set(key, key)
  await app.redis.shards.sendCommand('a', true, ['GET', 'a'])
  await app.redis.shards.get('zz')
  await t.rejects(app.redis.shards.lPush('a', 'x'), 'LPUSH on a string fails')
  t.equal(on(app, 'shards').commands - before, 7, 'each command once, sendCommand() included')
  t.equal(on(app, 'shards').errors[REDIS_MAJOR === 4 ? 'ErrorReply' : 'SimpleError'], 1)
  t.equal(on(app, 'shards').state, 'ready')
  t.equal(on(app, 'shards').latency.count, on(app, 'shards').commands)
})

test('a client pool is counted at the pool level', { skip: since5('client pools') }, async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'POOLED', port: server.port, pool: true, metrics: true, commandTimeout: 0 })
  const before = on(app, 'pooled').commands
  await app.redis.pooled.set('k', 'v')
  await app.redis.pooled.get('k')
  await app.redis.pooled.sendCommand(['PING'])
  await app.redis.pooled.multi().get('k').exec()
  t.equal(on(app, 'pooled').commands - before, 4)
})

test('option metrics and config key PREFIX_METRICS', async (t) => {
  t.equal(resolveOptions().metrics, false, 'off by default')
  t.equal(resolveOptions({ metrics: true }).metrics, true)
  t.equal(resolveOptions({ config: { REDIS_METRICS: 'true' } }).metrics, true)
  t.equal(resolveOptions({ metrics: false, config: { REDIS_METRICS: 'true' } }).metrics, false, 'the option beats the key')
  const registry = new Registry()
  t.equal(resolveOptions({ metrics: registry }).metrics, registry)
  t.equal(resolveOptions({ clusterNodes: 'redis://h:7000', metrics: 1 }).metrics, true)
  t.equal(resolveOptions({ client: createClient(), metrics: true }).metrics, true)
  const refused: Array<[object, RegExp]> = [
    [{ metrics: 42 }, /^fastify-node-redis: connection "redis": option "metrics" must be a boolean/],
    [{ prefix: 'CACHE', metrics: {} }, /connection "cache": option "metrics" must be a boolean or a prom-client Registry .*got an object/],
    [{ metrics: 'prometheus' }, /option "metrics" must be a boolean.*got "prometheus"/],
    [{ config: { REDIS_METRICS: 'maybe' } }, /connection "redis": config key REDIS_METRICS must be a boolean/]
  ]
  for (const [options, message] of refused) {
    t.throws(() => resolveOptions(options), { code: 'FST_REDIS_CONFIG', message }, JSON.stringify(options))
  }
  const { app } = appWithLogs(t)
  app.register(fastifyRedis, { metrics: [] as unknown as boolean })
  await t.rejects(async () => await app.ready(), { code: 'FST_REDIS_CONFIG', message: /option "metrics" must be a boolean or a prom-client Registry/ })
})

test('the counters themselves: buckets, error classes, subscriber counts', async (t) => {
  const m = new ConnectionMetrics('x')
  t.equal(m.snapshot().state, 'new')
  m.done(performance.now() - 3)
  m.done(performance.now() + 1)
  m.failed(performance.now() - 10_000, new Error('boom'))
  const s = m.snapshot()
  t.strictSame(s.latency.counts.slice(0, 4), [1, 1, 1, 2], 'at most 0.5 ms, then at most 5 ms')
  t.equal(s.latency.counts[s.latency.counts.length - 1], 2, '10 s is above the largest bucket…')
  t.equal(s.latency.count, 3, '…and counted in +Inf')
  t.strictSame(s.errors, { Error: 1 })
  t.equal(errorClass(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'ECONNRESET')
  t.equal(errorClass(new TypeError('x')), 'TypeError')
  t.equal(errorClass('text'), 'string')
  t.equal(errorClass(null), 'object')
  t.equal(errorClass(Object.create(null)), 'Error')
  m.subscriptions(3)
  m.message()
  m.message()
  t.match(m.snapshot(), { channels: 3, messages: 2 })
  m.stop()
  m.stop()
  t.pass(`node-redis ${REDIS_MAJOR}`)
})
