import { test } from 'tap'
import fastifyRedis, { redisHealth, redisMetrics, type RedisClient, type RedisSubscriber } from 'fastify-node-redis'
import { appWithLogs, eventually, sleep, startupError } from './helpers/app'
import { REDIS_MAJOR } from './helpers/major'
import { startRedis, type RedisServer } from './helpers/redis'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    events: RedisSubscriber
    redis: RedisClient
  }
}

/** Every message the subscriber received, by channel. */
function collect (): { got: Array<[string, string]>, listener: (message: string, channel: string) => void } {
  const got: Array<[string, string]> = []
  return { got, listener: (message, channel) => { got.push([channel, message]) } }
}

/** Publishes `message` on `channel` from a connection of the app's own until the subscriber has it. */
async function delivered (app: { redis: { redis: RedisClient } }, got: Array<[string, string]>, channel: string, message: string, ms = 10000): Promise<number> {
  return await eventually(async () => {
    await app.redis.redis.publish(channel, message)
    return got.some(([c, m]) => c === channel && m === message)
  }, ms, 50)
}

async function subscriberLines (server: RedisServer): Promise<Array<Record<string, string>>> {
  return (await server.clients()).filter((c) => c.name?.startsWith('fastify-node-redis:events:'))
}

/** A server, an app with a connection "redis" and a subscriber "events" to it, and what "events" collects. */
async function subscriberApp (t: Parameters<typeof appWithLogs>[0], options: object = {}): Promise<ReturnType<typeof appWithLogs> & ReturnType<typeof collect> & { server: RedisServer }> {
  const server = await startRedis(t)
  const captured = appWithLogs(t)
  await captured.app.register(fastifyRedis, { port: server.port })
  await captured.app.register(fastifyRedis, { prefix: 'EVENTS', port: server.port, subscriber: true, ...options })
  return { server, ...captured, ...collect() }
}

test('a subscriber connection receives messages, and is typed for subscriber mode', async (t) => {
  const { server, app, logs, got, listener } = await subscriberApp(t)
  await app.redis.events.subscribe('news', listener)
  await app.redis.events.pSubscribe('news.*', (message, channel) => got.push([channel, message]))
  await delivered(app, got, 'news', 'hello')
  await delivered(app, got, 'news.sport', 'goal')
  t.ok(logs.some((l) => /redis connection "events" ready/.test(l.msg)))
  const [line] = await subscriberLines(server)
  t.equal(line.sub, '1')
  t.equal(line.psub, '1')
  const health = await redisHealth(app)
  t.equal(health.ok, true)
  t.equal(health.connections.events.status, 'ready', 'redisHealth covers it (a PING is allowed in subscriber mode)')
  // Without channels, UNSUBSCRIBE never settles on node-redis 4 and 5: the plugin names them.
  await app.redis.events.unsubscribe()
  await app.redis.events.PUNSUBSCRIBE([])
  await app.redis.events.sUnsubscribe()
  t.equal(app.redis.events.isPubSubActive, false)
  t.equal((await subscriberLines(server))[0].sub, '0')
})

test('after CLIENT KILL TYPE pubsub, every subscription is restored, checked on the server, and logged', async (t) => {
  const { server, app, logs, got, listener } = await subscriberApp(t)
  await app.redis.events.subscribe(['a', 'b'], listener)
  await app.redis.events.pSubscribe('p.*', listener)
  await app.redis.events.sSubscribe('s', listener)
  await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub')
  const took = await eventually(async () => logs.some((l) => /redis subscriber "events" is ready again/.test(l.msg)))
  const line = logs.find((l) => /redis subscriber "events" is ready again/.test(l.msg))!
  t.match(line.msg, /the server lists its 4 subscriptions again \(2 channels, 1 pattern, 1 shard channel\); messages published while it was down are lost/)
  t.equal(line.restored, 4)
  t.equal(line.level, 30)
  t.comment(`recovered and verified in ${took} ms`)
  await delivered(app, got, 'a', 'after')
  await delivered(app, got, 'p.x', 'after')
  const [listed] = await subscriberLines(server)
  t.same([listed.sub, listed.psub, listed.ssub], ['2', '1', '1'])
  t.equal(logs.filter((l) => l.level === 50).length, 1, 'one error line for the loss')
})

test('after Redis is killed and restarted, the subscriber is back with its subscriptions, without a crash', async (t) => {
  const { server, app, logs, got, listener } = await subscriberApp(t)
  await app.redis.events.subscribe('news', listener)
  await delivered(app, got, 'news', 'before')
  await server.kill()
  await sleep(300)
  t.equal(app.redis.events.isReady, false)
  await server.restart()
  await eventually(async () => logs.some((l) => /redis subscriber "events" is ready again .*lists its 1 subscriptions again \(1 channel\)/.test(l.msg)), 10000)
  await delivered(app, got, 'news', 'after')
})

test('a paused server is detected by the watchdog (PING), and the subscriber reopened and subscribed again', async (t) => {
  const { server, app, logs, got, listener } = await subscriberApp(t, { commandTimeout: 400 })
  await app.redis.events.subscribe('news', listener)
  server.pause()
  t.teardown(() => server.resume())
  await eventually(async () => logs.some((l) => /redis connection "events" lost \(no answer within 400 ms \(commandTimeout\)\)/.test(l.msg)))
  t.equal((await redisHealth(app, { timeout: 200 })).connections.events.status !== 'ready', true, 'redisHealth reports it')
  server.resume()
  await eventually(async () => logs.some((l) => /redis subscriber "events" is ready again/.test(l.msg)), 10000)
  await delivered(app, got, 'news', 'after')
})

test('close unsubscribes and closes the subscriber, and leaves nothing on the server', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'EVENTS', port: server.port, subscriber: true })
  await app.redis.events.subscribe('news', () => {})
  await app.redis.events.pSubscribe('n*', () => {})
  await app.redis.events.sSubscribe('s', () => {})
  t.equal((await subscriberLines(server)).length, 1)
  await app.close()
  t.equal(app.redis.events.isOpen, false)
  await eventually(async () => (await subscriberLines(server)).length === 0)
  t.same(await server.command('PUBSUB', 'NUMSUB', 'news'), ['news', 0])
})

test('close of a subscriber with nothing subscribed, and with the server paused, stays bounded', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'EVENTS', port: server.port, subscriber: true, closeTimeout: 300, commandTimeout: 0 })
  await app.redis.events.subscribe('news', () => {})
  server.pause()
  t.teardown(() => server.resume())
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 1500, `closed in ${Date.now() - started} ms (closeTimeout 300)`)
})

test('a subscriber whose subscriptions cannot be checked says so, and keeps working', async (t) => {
  const server = await startRedis(t, { users: [{ name: 'sub', password: 'sub-pass', rules: '~* &* +@all -client|list' }] })
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  await app.register(fastifyRedis, { prefix: 'EVENTS', port: server.port, username: 'sub', password: 'sub-pass', subscriber: true, clientOptions: { name: 'my-events' } })
  const { got, listener } = collect()
  await app.redis.events.subscribe('news', listener)
  t.equal((await server.clients()).filter((c) => c.name === 'my-events').length, 1, 'clientOptions.name names it')
  await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await eventually(async () => logs.some((l) => /subscriptions could not be checked/.test(l.msg)))
  t.match(logs.find((l) => /could not be checked/.test(l.msg))!.msg, /redis subscriber "events" is ready again after \d+ ms, but its 1 subscriptions could not be checked \(CLIENT LIST on a second connection: NOPERM/)
  await delivered(app, got, 'news', 'after')
})

test('subscriptions the server does not list again are reported, and the connection reopened once', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  // Two subscribers under one client name: each finds the first line of that name in CLIENT LIST.
  for (const prefix of ['EVENTS', 'OTHER']) {
    await app.register(fastifyRedis, { prefix, port: server.port, subscriber: true, commandTimeout: 300, clientOptions: { name: 'same' } })
  }
  await app.redis.events.subscribe(['a', 'b'], () => {})
  await (app.redis as unknown as { other: RedisSubscriber }).other.subscribe('c', () => {})
  await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await eventually(async () => logs.some((l) => l.level === 50 && /again after reopening it/.test(l.msg)), 10000)
  const warned = logs.find((l) => l.level === 40 && /reopening the connection to subscribe again/.test(l.msg))!
  t.match(warned.msg, /redis subscriber "(events|other)": the server lists \d of its \d subscriptions \(\d channels?\) 1000 ms after it reconnected \(looking for client name "same": it must be unique\); reopening the connection to subscribe again/)
  t.match(logs.find((l) => l.level === 50 && /again after reopening/.test(l.msg))!.msg, /, again after reopening it; messages to the missing ones are not received/)
})

test('a subscriber whose user may not name its connection fails at startup with a hint (node-redis 4 and 5)', async (t) => {
  const server = await startRedis(t, { users: [{ name: 'sub', password: 'sub-pass', rules: '~* &* +@all -client' }] })
  const { app } = appWithLogs(t)
  const { err } = await startupError(app, { prefix: 'EVENTS', port: server.port, username: 'sub', password: 'sub-pass', subscriber: true })
  if (REDIS_MAJOR >= 6) {
    t.equal(err, undefined, 'node-redis 6 names the connection in its HELLO, which this ACL allows')
    return
  }
  t.equal(err.code, 'FST_REDIS_CONNECT')
  t.match(err.message, /NOPERM .*client\|setname.*; a subscriber names its connection \(CLIENT SETNAME\) so that its subscriptions can be checked after a reconnection: allow \+client\|setname and \+client\|list for this user/)
})

test('with metrics on, a subscriber counts the subscriptions it holds and the messages it receives', async (t) => {
  const { server, app, got, listener } = await subscriberApp(t, { metrics: true })
  const other = (): void => {}
  const commands = (): number => (redisMetrics(app).connections.events as { commands: number }).commands
  const before = commands()
  await app.redis.events.subscribe(['a', 'b'], listener)
  await app.redis.events.SUBSCRIBE('a', other)
  await app.redis.events.pSubscribe('p.*', listener)
  t.match(redisMetrics(app).connections.events, { enabled: true, channels: 3, messages: 0 })
  // At least: the watchdog's PINGs count too.
  t.ok(commands() - before >= 3, 'each subscribe call counts as a command, on every major')
  for (const channel of ['a', 'b', 'p.1']) await delivered(app, got, channel, `to ${channel}`)
  const counted = (redisMetrics(app).connections.events as { messages: number }).messages
  t.ok(counted >= got.length, `${counted} messages counted, ${got.length} received by the listener`)
  // unsubscribe() knows each listener by the one given to subscribe().
  await app.redis.events.unsubscribe('a', listener)
  t.equal((await subscriberLines(server))[0].sub, '2', 'the other listener of "a" keeps it')
  await app.redis.events.unsubscribe('a', other)
  t.equal((await subscriberLines(server))[0].sub, '1')
  t.match(redisMetrics(app).connections.events, { channels: 2 })
  await app.redis.events.unsubscribe()
  await app.redis.events.pUnsubscribe()
  t.match(redisMetrics(app).connections.events, { channels: 0 })
})

test('with metrics on, a refused subscribe counts as a failed command, by its error class', async (t) => {
  const server = await startRedis(t, { users: [{ name: 'sub', password: 'sub-pass', rules: '~* &allowed +@all' }] })
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { prefix: 'EVENTS', port: server.port, username: 'sub', password: 'sub-pass', subscriber: true, metrics: true })
  await app.redis.events.subscribe('allowed', () => {})
  const err = await app.redis.events.subscribe('forbidden', () => {}).then(() => undefined, (e: Error) => e)
  t.match(err?.message, /NOPERM/)
  t.match(redisMetrics(app).connections.events, { errors: { [err!.constructor.name]: 1 }, channels: 1 })
})

test('subscriber: true is refused where a subscriber cannot be', async (t) => {
  const { app } = appWithLogs(t)
  const cases: Array<[object, RegExp]> = [
    [{ clusterNodes: 'redis://127.0.0.1:7000' }, /option "subscriber" cannot be combined with option "clusterNodes": subscribe on a connection to one node/],
    [{ sentinelNodes: 'redis://127.0.0.1:26379', sentinelName: 'm' }, /option "subscriber" cannot be combined with option "sentinelNodes"/],
    [{ pool: true }, /option "subscriber" cannot be combined with option "pool": a subscriber is one connection/],
    [{ client: { connect () {}, on () {} } }, /option "subscriber" cannot be combined with option "client"/],
    [{ config: { EVENTS_POOL: 'true' } }, /cannot be combined with config key EVENTS_POOL/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(async () => await fastifyRedis(app, { prefix: 'EVENTS', subscriber: true, ...options } as any), { code: 'FST_REDIS_CONFIG', message })
  }
  await t.rejects(async () => await fastifyRedis(app, { prefix: 'EVENTS', config: { EVENTS_SUBSCRIBER: 'maybe' } } as any), { code: 'FST_REDIS_CONFIG', message: /config key EVENTS_SUBSCRIBER must be a boolean/ })
})
