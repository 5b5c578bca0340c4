import { test } from 'tap'
import underPressure from '@fastify/under-pressure'
import fastifyRedis, { redisHealth, type FastifyNodeRedisOptions } from 'fastify-node-redis'
import { startRedis } from './helpers/redis'
import { appWithLogs, eventually, sleep, testApp } from './helpers/app'
import { secret } from './helpers/secret-guard'
import { isolated, isolationPool } from './helpers/major'

test('a paused server: commands fail within 1.5 × commandTimeout, and everything recovers on resume', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, db: 2, config: { REDIS_COMMAND_TIMEOUT: '400' } })
  await app.redis.redis.set('k', 'v')
  server.pause()
  t.teardown(() => server.resume())
  const started = Date.now()
  await t.rejects(app.redis.redis.get('k'), 'the command is rejected, not left hanging')
  const took = Date.now() - started
  t.ok(took < 600 + 400, `failed after ${took} ms (bound: 600 ms, plus slack for a loaded machine)`)
  t.ok(logs.some((l) => l.level === 50 && /redis connection "redis" lost \(no answer within 400 ms \(commandTimeout\)\)/.test(l.msg)))
  // While paused, the reopened socket cannot finish its handshake (SELECT 2): commands fail at once.
  const t2 = Date.now()
  await t.rejects(app.redis.redis.get('k'))
  t.ok(Date.now() - t2 < 250, 'and fail fast while it stays paused')
  server.resume()
  await eventually(async () => (await app.redis.redis.get('k')) === 'v')
  t.ok(logs.some((l) => l.level === 30 && /is ready again/.test(l.msg)))
  t.equal(logs.filter((l) => l.level === 50).length, 1, 'one error line for the whole stall')
})

test('close while a stalled connection is being reopened does not reopen it', { skip: isolationPool }, async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 300, closeTimeout: 200 })
  // An isolated command stuck on the paused server holds up the pool's teardown,
  // so reopening waits up to commandTimeout: close lands in that window.
  const stuck = isolated(app.redis.redis, async (c) => await c.get('x'))
  stuck.catch(() => {})
  await sleep(100)
  server.pause()
  t.teardown(() => server.resume())
  await eventually(async () => logs.some((l) => /no answer within 300 ms/.test(l.msg)))
  await app.close()
  await sleep(400)
  t.notOk(app.redis.redis.isOpen, 'still closed after the reopen window')
})

test('while the server is down, MULTI and pipelines fail at once too, and close stays bounded', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, closeTimeout: 300 })
  const client = app.redis.redis
  t.same(await client.multi().set('a', '1').get('a').exec(), ['OK', '1'])
  t.same(await client.multi().get('a').execAsPipeline(), ['1'])
  await server.kill()
  await eventually(async () => !client.isReady)
  let started = Date.now()
  await t.rejects(client.multi().get('a').exec(), { message: 'The client is offline' })
  t.ok(Date.now() - started < 250, `MULTI failed in ${Date.now() - started} ms`)
  started = Date.now()
  await t.rejects(client.multi().get('a').execAsPipeline(), { message: 'The client is offline' })
  t.ok(Date.now() - started < 250, `the pipeline failed in ${Date.now() - started} ms`)
  started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 500, `closed in ${Date.now() - started} ms`)
})

test('while the server is down, executeIsolated fails at once too (node-redis 4)', { skip: isolationPool }, async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, closeTimeout: 300 })
  const client = app.redis.redis
  t.equal(await isolated(client, async (c) => await c.set('a', '1')), 'OK')
  await server.kill()
  await eventually(async () => !client.isReady)
  const started = Date.now()
  await t.rejects(isolated(client, async (c) => await c.get('a')), { message: 'The client is offline' })
  t.ok(Date.now() - started < 250, `executeIsolated failed in ${Date.now() - started} ms`)
})

test('lazyConnect connections are watched too', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, lazyConnect: true, commandTimeout: 300 })
  await eventually(async () => app.redis.redis.isReady)
  server.pause()
  t.teardown(() => server.resume())
  const started = Date.now()
  await t.rejects(app.redis.redis.get('k'))
  t.ok(Date.now() - started < 450 + 400, `failed after ${Date.now() - started} ms (bound 450 ms)`)
})

test('commandTimeout: 0 turns the watchdog off', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 0, closeTimeout: 200 })
  server.pause()
  t.teardown(() => server.resume())
  const pending = app.redis.redis.get('k')
  const outcome = await Promise.race([pending.then(() => 'answered', () => 'rejected'), sleep(500).then(() => 'waiting')])
  t.equal(outcome, 'waiting', 'node-redis alone waits')
  server.resume()
  t.equal(await pending, null)
})

test('the server killed during traffic and restarted: no crash, fast failures, then success again', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { port: server.port })
  app.get('/n', async function (_request, reply) {
    try {
      return { n: await this.redis.redis.incr('n') }
    } catch {
      return await reply.code(503).send({ error: 'redis unavailable' })
    }
  })
  let ok = 0
  let unavailable = 0
  let slowest = 0
  const burst = async (): Promise<void> => {
    await Promise.all(Array.from({ length: 50 }, async () => {
      const started = Date.now()
      const res = await app.inject('/n')
      slowest = Math.max(slowest, Date.now() - started)
      if (res.statusCode === 200) ok++
      else if (res.statusCode === 503) unavailable++
    }))
  }
  await burst()
  const killed = server.kill()
  await burst()
  await killed
  await eventually(async () => !app.redis.redis.isReady)
  await burst()
  t.ok(unavailable >= 50, `${unavailable} requests answered 503 during the outage`)
  t.ok(slowest < 1000, `the slowest request took ${slowest} ms`)
  const restartedAt = Date.now()
  await server.restart()
  const back = await eventually(async () => (await app.inject('/n')).statusCode === 200, 5000, 10)
  t.ok(back < 3000, `success again ${Date.now() - restartedAt} ms after the restart`)
  t.ok(ok >= 50)
})

test('CLIENT KILL of every connection, the isolation pool\'s included: they recover', { skip: isolationPool }, async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'warn')
  // Not a literal: 5 and 6 have no isolationPoolOptions, and this file compiles against them too.
  const clientOptions = { isolationPoolOptions: { min: 2, max: 2 } } as FastifyNodeRedisOptions['clientOptions']
  await app.register(fastifyRedis, { port: server.port, clientOptions })
  const client = app.redis.redis
  t.equal(await isolated(client, async (c) => await c.set('i', '1')), 'OK')
  await eventually(async () => (await server.clients()).length === 3)
  await server.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await eventually(async () => (await client.get('i')) === '1')
  await eventually(async () => (await isolated(client, async (c) => await c.get('i'))) === '1')
  t.pass('main and isolated connections answer again')
})

test('redisHealth: a verdict over every connection a context can see', async (t) => {
  const a = await startRedis(t)
  const b = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: a.port })
  let childHealth: Awaited<ReturnType<typeof redisHealth>> | undefined
  await app.register(async (child) => {
    await child.register(fastifyRedis, { prefix: 'CACHE', port: b.port, commandTimeout: 0 })
    child.get('/health', async () => { childHealth = await redisHealth(child, { timeout: 200 }); return childHealth })
  })
  await app.ready()

  const healthy = await redisHealth(app)
  t.same(Object.keys(healthy.connections), ['redis'], 'the root does not see the child\'s connection')
  t.equal(healthy.ok, true)
  t.equal(healthy.connections.redis.status, 'ready')
  t.type(healthy.connections.redis.latencyMs, 'number')

  await app.inject('/health')
  t.same(Object.keys(childHealth!.connections).sort(), ['cache', 'redis'])
  t.equal(childHealth!.ok, true)

  b.pause()
  await app.inject('/health')
  t.same(childHealth!.failing, ['cache'])
  t.match(childHealth!.connections.cache, { status: 'timeout', error: 'no answer within 200 ms' })
  b.resume()

  await a.kill()
  await eventually(async () => !app.redis.redis.isReady)
  await app.inject('/health')
  t.match(childHealth, { ok: false, failing: ['redis'], connections: { redis: { status: 'down' }, cache: { status: 'ready' } } })

  t.same(await redisHealth(testApp()), { ok: true, failing: [], connections: {} }, 'no connections: nothing failing')
})

test('redisHealth reports a failed PING as an error', async (t) => {
  const server = await startRedis(t, { users: [{ name: 'app', password: 'no-ping-Pa55', rules: '~* &* +@all -ping' }] })
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, username: 'app', password: 'no-ping-Pa55', lazyConnect: true })
  await eventually(async () => app.redis.redis.isReady)
  const health = await redisHealth(app)
  t.match(health.connections.redis, { status: 'error', error: /NOPERM/ })
})

test('redisHealth: a connection the watchdog drops and reopens during the check is down, with a message a user understands', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 300 })
  server.pause()
  t.teardown(() => server.resume())
  // The PING waits longer than the watchdog: the connection is dropped under it.
  const health = await redisHealth(app, { timeout: 5000 })
  t.same(health.failing, ['redis'])
  t.same(health.connections.redis, { status: 'down', error: 'not connected: the connection was lost and is being reopened' })
  t.notMatch(JSON.stringify(health), /Disconnects client/)
})

test('@fastify/under-pressure healthCheck backed by redisHealth', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port })
  await app.register(underPressure, {
    healthCheck: async (instance) => (await redisHealth(instance as typeof app)).ok,
    healthCheckInterval: 100,
    exposeStatusRoute: '/status'
  })
  await eventually(async () => (await app.inject('/status')).statusCode === 200)
  await server.kill()
  await eventually(async () => (await app.inject('/status')).statusCode === 503)
  t.pass('503 while Redis is down')
})

test('bad input at registration: its code, a message naming the key, no secret, nothing left running', async (t) => {
  const server = await startRedis(t, { password: 'topsecret' })
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ port: 0 }, 'FST_REDIS_CONFIG', /option "port" .* got 0/],
    [{ port: 70000 }, 'FST_REDIS_CONFIG', /option "port" .* got 70000/],
    [{ db: -1 }, 'FST_REDIS_CONFIG', /option "db" .* got -1/],
    [{ db: 'x' }, 'FST_REDIS_CONFIG', /option "db" .* got "x"/],
    [{ prefix: '1A' }, 'FST_REDIS_CONFIG', /option "prefix" .* got "1A"/],
    [{ prefix: '__proto__' }, 'FST_REDIS_CONFIG', /got "__proto__"/],
    [{ prefix: 'a-b' }, 'FST_REDIS_CONFIG', /got "a-b"/],
    [{ url: 'ftp://:topsecret@h' }, 'FST_REDIS_CONFIG', /ftp:\/\/:\*\*\*@h is not a valid Redis URL: its scheme "ftp:"/],
    [{ url: `redis://:topsecret@127.0.0.1:${server.port}/x` }, 'FST_REDIS_CONFIG', /:\*\*\*@.* is not a valid Redis URL/],
    [{ port: undefined, config: { REDIS_PORT: 'abc', REDIS_PASSWORD: 'topsecret' } }, 'FST_REDIS_CONFIG', /config key REDIS_PORT .* got "abc"/],
    [{ password: Number(secret('31415926535')) }, 'FST_REDIS_CONFIG', /option "password" must be a string, got \(value hidden\)/],
    [{ clientClass: 42 }, 'FST_REDIS_CLIENT_CLASS', /option "clientClass" must be a function, a class or a module path string "specifier#export", got 42/],
    [{ clientClass: './no/such/module.js#make' }, 'FST_REDIS_CLIENT_CLASS', /"\.\/no\/such\/module\.js#make" cannot be resolved/],
    [{ clientClass: () => null }, 'FST_REDIS_CLIENT_CLASS', /returned null/]
  ]
  for (const [options, code, message] of cases) {
    const { app, raw } = appWithLogs(t, 'trace')
    const err = await Promise.resolve(app.register(fastifyRedis, { port: server.port, password: 'topsecret', ...options }).ready())
      .then(() => undefined, (e: Error & { code: string }) => e)
    t.equal(err?.code, code, JSON.stringify(options))
    t.match(err?.message, message)
    t.notMatch(`${err?.message} ${raw.join('')}`, /topsecret/, 'no secret in the message or the log')
    await app.close()
  }
  t.equal((await server.clients()).length, 0, 'no connection was ever opened')
})

test('a command behind a slow PING that was answered in time still fails within 1.5 × commandTimeout', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 1000 })
  const client = app.redis.redis as unknown as { ping: (...args: unknown[]) => Promise<unknown>, sendCommand: (args: string[]) => Promise<unknown> }
  // A fixture around the real client: the victim is sent right behind the watchdog's next PING.
  const ping = client.ping
  let victim: Promise<number> | undefined
  let sentAt = 0
  client.ping = function (...args: unknown[]) {
    const answer = ping.apply(this, args)
    if (armed && victim === undefined) {
      sentAt = Date.now()
      victim = client.sendCommand(['BLPOP', 'nothing', '3']).then(() => -1, () => Date.now() - sentAt)
    }
    return answer
  }
  let armed = false
  // A blocking command holds the connection for 0.9 s (Redis serves the other
  // connections meanwhile): the PING sent during it is answered just within
  // commandTimeout, then the victim behind it blocks for 3 s.
  const busy = client.sendCommand(['BLPOP', 'nothing', '0.9'])
  armed = true
  await busy
  await eventually(async () => victim !== undefined)
  const waited = await victim!
  t.not(waited, -1, 'the stalled command was rejected')
  // One PING at a time failed it only after about 2 × commandTimeout.
  t.ok(waited < 1500 + 200, `rejected after ${waited} ms (bound 1,500 ms, plus slack for a loaded machine)`)
  t.ok(logs.some((l) => l.level === 50 && /no answer within 1000 ms \(commandTimeout\)/.test(l.msg)))
  await eventually(async () => (await app.redis.redis.ping()) === 'PONG', 10000)
})

test('a command stuck on a paused server when close starts still fails within 1.5 × commandTimeout, not at closeTimeout', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 400, closeTimeout: 3000 })
  await app.redis.redis.set('k', 'v')
  server.pause()
  t.teardown(() => server.resume())
  const started = Date.now()
  const stuck = app.redis.redis.get('k').then(() => -1, () => Date.now() - started)
  await sleep(150)
  const closing = app.close()
  const waited = await stuck
  t.not(waited, -1, 'the command was rejected')
  t.ok(waited < 600 + 250, `rejected after ${waited} ms (bound 600 ms, plus slack for a loaded machine; closeTimeout is 3000 ms)`)
  await closing
  t.equal(app.redis.redis.isOpen, false)
})
