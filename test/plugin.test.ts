import { test } from 'tap'
import { createClient } from 'redis'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'
import { startRedis, freePort, untracedEnv } from './helpers/redis'
import { appWithLogs, eventually, sleep, testApp } from './helpers/app'
import { secret } from './helpers/secret-guard'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    redis: RedisClient
    cache: RedisClient
    child: RedisClient
    grandchild: RedisClient
  }
}

const info = async (client: RedisClient): Promise<Record<string, string>> => {
  const line = String(await client.sendCommand(['CLIENT', 'INFO'])).trim()
  return Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}

test('require() gives the plugin itself, with the named exports on it', async (t) => {
  const required = require('fastify-node-redis')
  t.equal(typeof required, 'function')
  t.equal(required.default, required)
  t.equal(required.fastifyRedis, required)
  t.equal(typeof required.redisEnvSchema, 'function')
  t.equal(required.errorCodes.FST_REDIS_CONFIG, required.FST_REDIS_CONFIG)
})

test('connects with host and port, and the prefix names the connection', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { prefix: 'CACHE', host: '127.0.0.1', port: server.port, db: 3 })
  app.get('/hits', async function () { return { hits: await this.redis.cache.incr('hits') } })
  t.same((await app.inject('/hits')).json(), { hits: 1 })
  t.same((await app.inject('/hits')).json(), { hits: 2 })
  t.equal((await info(app.redis.cache)).db, '3', 'the server sees db 3')
  t.equal(await server.command('SELECT', '3').then(() => server.command('GET', 'hits')), '2')
})

test('URL forms reach the right server, db and socket', async (t) => {
  const server = await startRedis(t, { unixSocket: true, ipv6: true, password: 'p@ss/w:rd' })
  const pw = encodeURIComponent('p@ss/w:rd')
  const cases: Array<[string, string, (i: Record<string, string>) => boolean]> = [
    [`redis://:${pw}@127.0.0.1:${server.port}/2`, '2', (i) => i.laddr === `127.0.0.1:${server.port}`],
    [`redis://:${pw}@127.0.0.1:${server.port}?db=4`, '4', () => true],
    [`redis://:${pw}@127.0.0.1:${server.port}/5//`, '5', () => true],
    [`redis://:${pw}@[::1]:${server.port}/6`, '6', (i) => i.laddr === `[::1]:${server.port}` || i.laddr === `::1:${server.port}`],
    [`unix://:${pw}@${server.socket}?db=7`, '7', (i) => i.laddr.startsWith(server.socket!)],
    [`unix://:${pw}@${server.socket}`, '0', (i) => i.laddr.startsWith(server.socket!)]
  ]
  for (const [url, db, where] of cases) {
    const app = testApp()
    await app.register(fastifyRedis, { url })
    const i = await info(app.redis.redis)
    t.equal(i.db, db, `${url.replace(pw, '***')}: db`)
    t.ok(where(i), `${url.replace(pw, '***')}: came through ${i.laddr}`)
    await app.close()
  }
})

test('discrete keys: unix socket path, a host starting with /, password', async (t) => {
  const server = await startRedis(t, { unixSocket: true, password: 'hunter2' })
  for (const options of [{ unixSocketPath: server.socket }, { host: server.socket }]) {
    const app = testApp()
    await app.register(fastifyRedis, { ...options, password: 'hunter2', db: 1 })
    const i = await info(app.redis.redis)
    t.ok(i.laddr.startsWith(server.socket!), `socket via ${Object.keys(options)[0]}`)
    t.equal(i.db, '1')
    await app.close()
  }
})

test('config keys come from fastify.config, and the URL wins over discrete keys', async (t) => {
  const server = await startRedis(t, { users: [{ name: 'app', password: 'app-pw' }] })
  const app = testApp()
  t.teardown(() => app.close())
  app.decorate('config', {
    REDIS_HOST: 'no-such-host.invalid',
    REDIS_PORT: '1',
    REDIS_DB: '9',
    REDIS_URL: `redis://127.0.0.1:${server.port}/2`,
    REDIS_USERNAME: 'app',
    REDIS_PASSWORD: 'app-pw',
    CACHE_HOST: '127.0.0.1',
    CACHE_PORT: String(server.port),
    CACHE_DB: '3'
  })
  await app.register(fastifyRedis)
  await app.register(fastifyRedis, { prefix: 'CACHE', db: 4 })
  const r = await info(app.redis.redis)
  t.equal(r.db, '2', 'db from the URL')
  t.equal(r.user, 'app', 'user and password from keys the URL lacks')
  t.equal((await info(app.redis.cache)).db, '4', 'explicit option beats CACHE_DB')
})

test('options.config replaces fastify.config', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  app.decorate('config', { REDIS_PORT: '1' })
  await app.register(fastifyRedis, { host: '127.0.0.1', config: { REDIS_PORT: server.port, REDIS_DB: 8 } })
  t.equal((await info(app.redis.redis)).db, '8')
})

test('clientOptions pass through to node-redis', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, clientOptions: { name: 'my-app', socket: { noDelay: false } } })
  t.equal((await info(app.redis.redis)).name, 'my-app')
})

test('encapsulation: visible where registered and below, never above or beside', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  const seen: Record<string, string[]> = {}
  const names = (redis: object): string[] => {
    const all: string[] = []
    for (const key in redis) all.push(key)
    return all.sort()
  }
  await app.register(fastifyRedis, { port: server.port })
  await app.register(async (child) => {
    await child.register(fastifyRedis, { prefix: 'CHILD', port: server.port, db: 1 })
    await child.register(async (grandchild) => {
      await grandchild.register(fastifyRedis, { prefix: 'GRANDCHILD', port: server.port, db: 2 })
      seen.grandchild = names(grandchild.redis)
      grandchild.get('/grandchild', async function () { return (await info(this.redis.grandchild)).db })
    })
    seen.child = names(child.redis)
  })
  await app.register(async (sibling) => {
    // The sibling may reuse the name "child" for a connection of its own.
    await sibling.register(fastifyRedis, { prefix: 'CHILD', port: server.port, db: 5 })
    seen.sibling = names(sibling.redis)
    sibling.get('/sibling', async function () { return (await info(this.redis.child)).db })
  })
  await app.register(async (plain) => { seen.plain = names(plain.redis) })
  await app.ready()
  seen.root = names(app.redis)
  t.same(seen, {
    root: ['redis'],
    child: ['child', 'redis'],
    grandchild: ['child', 'grandchild', 'redis'],
    sibling: ['child', 'redis'],
    plain: ['redis']
  })
  t.equal((await app.inject('/grandchild')).body, '2')
  t.equal((await app.inject('/sibling')).body, '5', 'the sibling has its own "child"')
  t.equal((await server.clients()).length, 4)
  await app.close()
  t.equal((await server.clients()).length, 0, 'every registration closed its own connection')
})

test('a name the context can already see is FST_REDIS_DUPLICATE', async (t) => {
  const server = await startRedis(t)
  const same = testApp()
  t.teardown(() => same.close())
  same.register(fastifyRedis, { port: server.port })
  same.register(fastifyRedis, { port: server.port })
  await t.rejects(async () => { await same.ready() }, { code: 'FST_REDIS_DUPLICATE', message: /connection "redis" is already registered/ })

  const nested = testApp()
  t.teardown(() => nested.close())
  nested.register(fastifyRedis, { prefix: 'CACHE', port: server.port })
  nested.register(async (child) => { await child.register(fastifyRedis, { prefix: 'cache', port: server.port }) })
  await t.rejects(async () => { await nested.ready() }, { code: 'FST_REDIS_DUPLICATE', message: /connection "cache"/ })
  await same.close()
  await nested.close()
  t.equal((await server.clients()).length, 0, 'nothing left open')
})

test('another plugin that owns fastify.redis (@fastify/redis) is a clear error, not a mix-up', async (t) => {
  const server = await startRedis(t)
  const { default: officialRedis } = await import('@fastify/redis')
  const app = testApp()
  t.teardown(() => app.close())
  app.register(officialRedis, { port: server.port, host: '127.0.0.1' })
  app.register(fastifyRedis, { port: server.port })
  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_REDIS_CONFIG',
    message: /connection "redis": fastify.redis is already decorated by another plugin \(@fastify\/redis\?\)/
  })
  const other = testApp()
  t.teardown(() => other.close())
  other.decorate('redis', null as never)
  other.register(fastifyRedis, { port: server.port })
  await t.rejects(async () => { await other.ready() }, { code: 'FST_REDIS_CONFIG' })
  const third = testApp()
  t.teardown(() => third.close())
  third.decorate('redis', 'x' as never)
  third.register(fastifyRedis, { port: server.port })
  await t.rejects(async () => { await third.ready() }, { code: 'FST_REDIS_CONFIG' })
})

test('close drops the connection on the server', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  await app.register(fastifyRedis, { port: server.port })
  await app.register(fastifyRedis, { prefix: 'CACHE', port: server.port })
  t.equal((await server.clients()).length, 2)
  const pending = app.redis.redis.set('last', 'written')
  await app.close()
  t.equal(await pending, 'OK', 'a command sent before close completes')
  t.equal(await server.command('GET', 'last'), 'written')
  t.equal((await server.clients()).length, 0)
  t.notOk(app.redis.redis.isOpen)
})

test('startup fails fast with FST_REDIS_CONNECT', async (t) => {
  const refusedPort = await freePort()
  const started = Date.now()
  const refused = testApp()
  t.teardown(() => refused.close())
  await t.rejects(async () => { await refused.register(fastifyRedis, { host: '127.0.0.1', port: refusedPort }).ready() }, {
    code: 'FST_REDIS_CONNECT',
    message: new RegExp(`connection "redis" to redis://127.0.0.1:${refusedPort}/0 failed at startup: connect ECONNREFUSED`)
  })
  t.ok(Date.now() - started < 1000, `refused: ${Date.now() - started} ms`)

  const server = await startRedis(t, { password: 'the-right-one' })
  const wrong = testApp()
  t.teardown(() => wrong.close())
  const t1 = Date.now()
  const err = await Promise.resolve(wrong.register(fastifyRedis, { url: `redis://:${secret('the-wrong-one')}@127.0.0.1:${server.port}` }).ready()).then(() => ({ code: 'started', message: '' }), (e: Error & { code: string }) => e)
  t.equal(err.code, 'FST_REDIS_CONNECT')
  t.match(err.message, /redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 failed at startup: WRONGPASS/)
  t.notMatch(err.message, /the-wrong-one/)
  t.ok(Date.now() - t1 < 1000, `wrong password: ${Date.now() - t1} ms`)

  const none = testApp()
  t.teardown(() => none.close())
  await t.rejects(async () => { await none.register(fastifyRedis, { port: server.port }).ready() }, { code: 'FST_REDIS_CONNECT', message: /NOAUTH/ })
  t.equal((await server.clients()).length, 0, 'failed starts leave no connection behind')
})

test('startup against an unknown host fails within connectTimeout, naming the cause', async (t) => {
  const app = testApp()
  t.teardown(() => app.close())
  const started = Date.now()
  const err = await Promise.resolve(app.register(fastifyRedis, { host: 'no-such-host.invalid', connectTimeout: 1000 }).ready())
    .then(() => undefined, (e: Error & { code: string }) => e)
  t.equal(err?.code, 'FST_REDIS_CONNECT')
  t.match(err?.message, /connection "redis" to redis:\/\/no-such-host\.invalid:6379\/0 failed at startup: (getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid|no answer within 1000 ms)/)
  t.ok(Date.now() - started < 1500, `in ${Date.now() - started} ms`)
})

test('startup against a server that accepts TCP and never answers times out', async (t) => {
  const server = await startRedis(t)
  server.pause()
  t.teardown(() => server.resume())
  for (const db of [0, 3]) {
    // db 0: "ready" at once, only the PING hangs; db 3: SELECT hangs during the handshake.
    const app = testApp()
    t.teardown(() => app.close())
    const started = Date.now()
    await t.rejects(async () => { await app.register(fastifyRedis, { port: server.port, db, connectTimeout: 300 }).ready() }, {
      code: 'FST_REDIS_CONNECT',
      message: /failed at startup: no answer within 300 ms \(connectTimeout\)/
    })
    const took = Date.now() - started
    t.ok(took >= 290 && took < 1000, `db ${db}: gave up after ${took} ms`)
  }
})

test('a failed start leaves nothing running: the process exits by itself', async (t) => {
  const { spawn } = await import('node:child_process')
  const server = await startRedis(t)
  server.pause()
  t.teardown(() => server.resume())
  const refused = await freePort()
  for (const url of [`redis://127.0.0.1:${refused}`, `redis://127.0.0.1:${server.port}/1`]) {
    const child = spawn(process.execPath, ['--conditions=fastify-node-redis-source', '--import', 'tsx', 'test/helpers/failed-start.ts', url], { stdio: ['ignore', 'pipe', 'inherit'], env: untracedEnv() })
    let out = ''
    let failedAt = 0
    child.stdout.on('data', (d) => {
      out += d
      failedAt ||= Date.now()
    })
    // A leaked socket or timer would keep the child alive: give it up to 10 s.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await new Promise((resolve) => child.on('exit', resolve))
    clearTimeout(killer)
    t.equal(code, 0, `exited on its own (${url})`)
    t.match(out, /FST_REDIS_CONNECT/)
    t.ok(Date.now() - failedAt < 3000, `${Date.now() - failedAt} ms after the failure`)
  }
})

test('a killed connection recovers, logging once per transition, and never crashes', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  await app.redis.redis.set('k', 'v')
  const [mine] = await server.clients()
  await server.command('CLIENT', 'KILL', 'ID', mine.id)
  await eventually(async () => (await app.redis.redis.get('k')) === 'v')
  const lost = logs.filter((l) => l.level === 50)
  t.equal(lost.length, 1, 'one error line for the outage')
  t.match(lost[0], { redis: 'redis', msg: /redis connection "redis" lost/ })
  t.ok(logs.some((l) => l.level === 30 && /redis connection "redis" is ready again after \d+ ms/.test(l.msg)))
})

test('while the server is down, commands fail at once and the outage is logged once', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  await server.kill()
  await eventually(async () => !app.redis.redis.isReady)
  const started = Date.now()
  await t.rejects(app.redis.redis.get('k'), { message: /offline|closed/i })
  t.ok(Date.now() - started < 250, `failed in ${Date.now() - started} ms`)
  await sleep(1500) // several reconnection attempts
  t.equal(logs.filter((l) => l.level >= 40).length, 1, 'one warning-or-worse line, not one per retry')
  t.ok(logs.filter((l) => l.level === 20 && /still down/.test(l.msg)).length >= 2, 'retries are at debug level')
  await server.restart()
  await eventually(async () => (await app.redis.redis.ping()) === 'PONG', 5000)
})

test('close is bounded while the server is down or paused', async (t) => {
  const down = await startRedis(t)
  const a = testApp()
  await a.register(fastifyRedis, { port: down.port, closeTimeout: 300 })
  await down.kill()
  let started = Date.now()
  await a.close()
  t.ok(Date.now() - started < 400, `down: closed in ${Date.now() - started} ms`)

  const paused = await startRedis(t)
  const b = testApp()
  await b.register(fastifyRedis, { port: paused.port, closeTimeout: 300 })
  const stuck = b.redis.redis.get('never-answered')
  paused.pause()
  started = Date.now()
  await b.close()
  const took = Date.now() - started
  t.ok(took >= 250 && took < 1000, `paused: closed in ${took} ms`)
  await t.rejects(stuck, 'the command that never got an answer is rejected, not left hanging')
  paused.resume()
  await eventually(async () => (await paused.clients()).length === 0)
})

test('lazyConnect: startup does not wait, commands fail fast until Redis is up', async (t) => {
  const port = await freePort()
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port, config: { REDIS_LAZY_CONNECT: 'true' } })
  await app.ready()
  await t.rejects(app.redis.redis.get('x'), { message: /offline/i })
  await eventually(async () => logs.some((l) => /cannot connect yet/.test(l.msg)))
  await sleep(300)
  await startRedis(t, { port })
  await eventually(async () => (await app.redis.redis.ping()) === 'PONG')
  t.equal(logs.filter((l) => l.level === 50).length, 1, 'one error line while it kept retrying')
  t.ok(logs.some((l) => /is ready again/.test(l.msg)))
})

test('a client you pass in is connected for you and left open at close', async (t) => {
  const server = await startRedis(t)
  const client = createClient({ socket: { port: server.port } })
  t.teardown(() => client.isOpen && client.disconnect())
  const app = testApp()
  await app.register(fastifyRedis, { client })
  t.equal(app.redis.redis, client)
  t.ok(client.isReady)
  await app.close()
  t.ok(client.isOpen, 'who creates it, closes it')
  t.equal(client.listenerCount('error'), 0, 'the plugin removed its listeners')

  const already = createClient({ socket: { port: server.port } })
  already.on('error', () => {})
  await already.connect()
  const b = testApp()
  await b.register(fastifyRedis, { client: already, closeClient: true, lazyConnect: true })
  await b.register(fastifyRedis, { prefix: 'CACHE', client: already })
  await b.close()
  t.notOk(already.isOpen, 'closeClient: true closes it')
})

test('a client you pass in that cannot connect: the last error is in the message, nothing left running', async (t) => {
  const port = await freePort()
  const client = createClient({ socket: { port, host: '127.0.0.1' } }) // default strategy retries forever
  const app = testApp()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(fastifyRedis, { client, connectTimeout: 300 }).ready() }, {
    code: 'FST_REDIS_CONNECT',
    message: /no answer within 300 ms \(connectTimeout\); last error: connect ECONNREFUSED/
  })
  t.notOk(client.isOpen)
})

test('your reconnectStrategy is honoured after startup', async (t) => {
  const server = await startRedis(t)
  const strategies = [false as const, 100, () => 50, () => new Error('give up')]
  for (const reconnectStrategy of strategies) {
    const { app } = appWithLogs(t, 'error')
    await app.register(fastifyRedis, { port: server.port, clientOptions: { socket: { reconnectStrategy } } })
    const [mine] = await server.clients()
    await server.command('CLIENT', 'KILL', 'ID', mine.id)
    const gaveUp = reconnectStrategy === false || (typeof reconnectStrategy === 'function' && reconnectStrategy() instanceof Error)
    if (gaveUp) {
      await eventually(async () => !app.redis.redis.isOpen)
      t.pass(`${String(reconnectStrategy)}: gave up`)
    } else {
      await eventually(async () => (await app.redis.redis.ping()) === 'PONG')
      t.pass(`${String(reconnectStrategy)}: reconnected`)
    }
    await app.close()
  }
})

test('one info line per connection when it is ready: the name, the target (password masked) and the startup time', async (t) => {
  const password = secret('ready-line-secret')
  const server = await startRedis(t, { password })
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, { prefix: 'CACHE', port: server.port, password })
  const ready = logs.filter((l) => l.level === 30 && l.redis === 'cache')
  t.equal(ready.length, 1, 'one line')
  t.match(ready[0], {
    msg: new RegExp(`^redis connection "cache" ready: redis://:\\*\\*\\*@localhost:${server.port}/0 in \\d+ ms$`),
    target: `redis://:***@localhost:${server.port}/0`,
    ms: Number
  })
})
