import { test, type Test } from 'tap'
import { ClientClosedError } from 'redis'
import fastifyRedis, { redisHealth, type RedisClient, type RedisSentinel } from 'fastify-node-redis'
import { resolveOptions, type FastifyNodeRedisOptions } from '../lib/options'
import { needs5, redisVersion } from '../lib/driver/major'
import { killSwitch } from '../lib/driver/kill-switch'
import { isSentinel } from '../lib/driver/sentinel'
import { appWithLogs, eventually, sleep, startupError, testApp } from './helpers/app'
import { REDIS_MAJOR, since5 } from './helpers/major'
import { freePort } from './helpers/redis'
import { startSentinel } from './helpers/sentinel'
import { secret } from './helpers/secret-guard'

// RedisSentinel is `never` on node-redis 4, where the tests that use it are skipped.
type Ha = [RedisSentinel] extends [never] ? RedisClient : RedisSentinel
declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    ha: Ha
  }
}

const PW = secret('sentinel-data-Pa55')
const SPW = secret('sentinel-own-Pa55')
const skip = since5('Sentinel client (createSentinel arrived in node-redis 5)')
const NODES = 'redis://10.0.0.1:26379, redis://10.0.0.2 ,redis://[::1]:26380'
const installed = redisVersion()

type Spec = ReturnType<typeof resolveOptions>

/**
 * Resolves `options` and hands the spec to `check` on node-redis 5+; on 4,
 * where the same resolution runs to its end and refuses Sentinel, checks the refusal.
 */
function resolved (t: Test, options: FastifyNodeRedisOptions, check: (spec: Spec) => void): void {
  if (REDIS_MAJOR >= 5) return check(resolveOptions(options))
  t.throws(() => resolveOptions(options), { code: 'FST_REDIS_CONFIG', message: /Sentinel needs redis 5 or later/ })
}

test('node-redis 4 refuses Sentinel with FST_REDIS_CONFIG, saying why', async (t) => {
  t.equal(needs5('Sentinel', '4.7.1'), 'Sentinel needs redis 5 or later; 4.7.1 is installed')
  t.equal(needs5('Sentinel', '5.0.0'), undefined)
  t.equal(isSentinel({}), false)
  if (REDIS_MAJOR >= 5) {
    t.ok(resolveOptions({ sentinelNodes: 'redis://h', sentinelName: 'm' }).sentinel)
    return
  }
  t.throws(() => resolveOptions({ prefix: 'HA', sentinelNodes: 'redis://h', sentinelName: 'm' }), {
    code: 'FST_REDIS_CONFIG',
    message: `fastify-node-redis: connection "ha": option "sentinelNodes" asks for Redis Sentinel, but Sentinel needs redis 5 or later; ${installed} is installed: upgrade node-redis (npm install redis@latest), or reach the master through an address that follows failovers`
  })
  const app = testApp()
  t.teardown(() => app.close())
  app.register(fastifyRedis, { config: { REDIS_SENTINEL_NODES: 'redis://127.0.0.1:1', REDIS_SENTINEL_NAME: 'm' } })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_REDIS_CONFIG', message: /config key REDIS_SENTINEL_NODES asks for Redis Sentinel, but Sentinel needs redis 5 or later/ })
})

test('the kill switch\'s cut() tears down the sockets open now and leaves later ones alone (a Sentinel\'s reopen)', async (t) => {
  const { signal, cut } = killSwitch() as { signal: AbortSignal, cut: () => void }
  let calls = 0
  const listener = (): void => { calls++ }
  signal.addEventListener('abort', listener)
  cut()
  t.equal(calls, 1, 'a socket open now is torn down')
  signal.removeEventListener('abort', listener)
  cut()
  t.equal(calls, 1, 'a socket that has closed is not')
  signal.addEventListener('abort', listener)
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(calls, 1, 'a socket opened after a cut lives on')
})

test('options and config keys: sentinels, master name, credentials of both kinds, options', async (t) => {
  resolved(t, {
    prefix: 'HA',
    config: { HA_SENTINEL_NODES: NODES, HA_SENTINEL_NAME: 'mymaster', HA_SENTINEL_PASSWORD: SPW, HA_DB: '3', HA_USERNAME: 'app', HA_PASSWORD: PW },
    sentinelOptions: { masterPoolSize: 2, nodeClientOptions: { name: 'n', socket: { keepAlive: true } }, sentinelClientOptions: { name: 's' } }
  }, (spec) => {
    t.same(spec.sentinel, {
      name: 'mymaster',
      nodes: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }, { host: '::1', port: 26380 }],
      username: undefined,
      password: SPW,
      tls: false,
      options: { masterPoolSize: 2, nodeClientOptions: { name: 'n', socket: { keepAlive: true } }, sentinelClientOptions: { name: 's' } }
    })
    t.same([spec.db, spec.username, spec.password, spec.host, spec.port], [3, 'app', PW, undefined, undefined])
    t.equal(spec.target, 'sentinel master "mymaster" (db 3, user app, password ***) via redis://:***@10.0.0.1:26379,10.0.0.2:26379,[::1]:26380')
    t.ok(Object.isFrozen(spec.sentinel))
  })
  // Credentials in the sentinel URLs win over the keys; rediss:// sentinels use the tls settings.
  resolved(t, {
    sentinelNodes: [`rediss://watcher:${encodeURIComponent(SPW)}@s1`, `rediss://watcher:${encodeURIComponent(SPW)}@s2:26390`],
    sentinelName: 'm',
    sentinelUsername: 'other',
    sentinelPassword: 'ignored-Pa55',
    tls: { ca: 'CA' }
  }, (spec) => {
    t.same([spec.sentinel!.username, spec.sentinel!.password, spec.sentinel!.tls, spec.tls], ['watcher', SPW, { ca: 'CA' }, { ca: 'CA' }])
    t.equal(spec.target, 'sentinel master "m" (TLS, db 0) via rediss://watcher:***@s1:26379,s2:26390')
  })
  resolved(t, { sentinelNodes: 'rediss://s1', sentinelName: 'm', sentinelPassword: '' }, (spec) => {
    t.same([spec.sentinel!.tls, spec.tls, spec.sentinel!.password], [{}, false, undefined])
  })
  resolved(t, { sentinelNodes: 'redis://:26380', sentinelName: 'm', password: '' }, (spec) => {
    t.same([spec.sentinel!.nodes, spec.password], [[{ host: 'localhost', port: 26380 }], undefined])
  })
})

test('Sentinel options that do not fit are FST_REDIS_CONFIG, naming the key, secrets hidden (on every major)', async (t) => {
  const cases: Array<[FastifyNodeRedisOptions, RegExp]> = [
    [{ sentinelNodes: 'redis://h' }, /option "sentinelName" \(config key REDIS_SENTINEL_NAME\) is required with sentinel nodes \(option "sentinelNodes"\)/],
    [{ config: { REDIS_SENTINEL_NODES: 'redis://h', REDIS_SENTINEL_NAME: '' } }, /is required with sentinel nodes \(config key REDIS_SENTINEL_NODES\)/],
    [{ sentinelNodes: [], sentinelName: 'm' }, /option "sentinelNodes" must be a list of sentinel URLs/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', url: 'redis://x' }, /option "url" cannot be combined with sentinel nodes \(option "sentinelNodes"\): the sentinels say where the master is/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', config: { REDIS_HOST: 'x' } }, /config key REDIS_HOST cannot be combined with sentinel nodes/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', port: 1 }, /option "port" cannot be combined/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', unixSocketPath: '/s' }, /option "unixSocketPath" cannot be combined/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', clusterNodes: 'redis://c' }, /option "clusterNodes" cannot be combined with sentinel nodes/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', clientOptions: {} }, /option "clientOptions" cannot be combined with sentinel nodes \(option "sentinelNodes"\): use sentinelOptions/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', clusterOptions: {} }, /option "clusterOptions" cannot be combined with sentinel nodes/],
    [{ sentinelNodes: 'unix:///tmp/s.sock', sentinelName: 'm' }, /has unix:\/\/\/tmp\/s\.sock: sentinels are reached over TCP/],
    [{ sentinelNodes: 'redis://h/2', sentinelName: 'm' }, /has redis:\/\/h\/2: a sentinel has no database; give the master's with option "db" \(config key REDIS_DB\)/],
    [{ sentinelNodes: 'redis://a,rediss://b', sentinelName: 'm' }, /mixes redis:\/\/ and rediss:\/\/ sentinels/],
    [{ sentinelNodes: [`redis://:${PW}@a`, `redis://:${SPW}@b`], sentinelName: 'm' }, /gives different credentials for different sentinels/],
    [{ sentinelNodes: 'http://h', sentinelName: 'm' }, /http:\/\/h is not a valid Redis URL/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelPassword: 42 as unknown as string }, /option "sentinelPassword" must be a string, got \(value hidden\)/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: 3 as never }, /option "sentinelOptions" must be an object, got 3/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { name: 'x' } }, /option "sentinelOptions.name" is not accepted: give the master group name with option "sentinelName"/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { sentinelRootNodes: [] } }, /option "sentinelOptions.sentinelRootNodes" is not accepted: give the sentinels with option "sentinelNodes"/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { passthroughClientErrorEvents: false } }, /passthroughClientErrorEvents" is not accepted/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { nodeClientOptions: { password: PW } } }, /option "sentinelOptions.nodeClientOptions.password" is not accepted/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { nodeClientOptions: { socket: { port: 1 } } } }, /option "sentinelOptions.nodeClientOptions.socket.port" is not accepted: the sentinels say where the master is/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { sentinelClientOptions: { socket: { tls: true } } } }, /option "sentinelOptions.sentinelClientOptions.socket.tls" is not accepted: set the plugin's own sentinelNodes \(rediss:\/\/ URLs\) and tls options/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { sentinelClientOptions: 'x' as never } }, /option "sentinelOptions.sentinelClientOptions" must be an object, got "x"/],
    [{ sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { nodeClientOptions: { socket: 1 } } }, /option "sentinelOptions.nodeClientOptions.socket" must be an object/],
    [{ sentinelName: 'm' }, /option "sentinelName" only applies together with sentinel nodes \(option "sentinelNodes" or config key REDIS_SENTINEL_NODES\)/],
    [{ config: { REDIS_SENTINEL_PASSWORD: SPW } }, /config key REDIS_SENTINEL_PASSWORD only applies together with sentinel nodes/],
    [{ sentinelOptions: {} }, /option "sentinelOptions" only applies together with sentinel nodes/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => resolveOptions(options), { code: 'FST_REDIS_CONFIG', message }, message.source)
  }
})

/** Options for a connection to `setup`'s master through its sentinels. */
function through (setup: { urls: string[], name: string }, extra: FastifyNodeRedisOptions = {}): FastifyNodeRedisOptions {
  return { prefix: 'HA', sentinelNodes: setup.urls, sentinelName: setup.name, connectTimeout: 4000, closeTimeout: 1000, commandTimeout: 1000, ...extra }
}

test('a Sentinel connection: ready at startup, commands go to the master, MULTI, health, close', { skip }, async (t) => {
  const setup = await startSentinel(t, { password: PW, sentinelPassword: SPW })
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, through(setup, { password: PW, sentinelPassword: SPW, db: 2 }))
  const ready = logs.find((l) => /ready/.test(l.msg))
  t.match(ready?.msg, new RegExp(`redis connection "ha" ready: sentinel master "mymaster" \\(db 2, password \\*\\*\\*\\) via redis://:\\*\\*\\*@127\\.0\\.0\\.1:${setup.sentinels[0].port},.* \\(master 127\\.0\\.0\\.1:${setup.data[0].port}\\) in \\d+ ms`))
  await app.redis.ha.set('k', 'v')
  t.equal(await app.redis.ha.get('k'), 'v')
  t.equal(await setup.data[0].command('SELECT', '2').then(async () => await setup.data[0].command('GET', 'k')), 'v', 'written to the master, in db 2')
  t.same(await app.redis.ha.multi().incr('n').incr('n').exec(), [1, 2])
  t.match(await redisHealth(app), { ok: true, connections: { ha: { status: 'ready' } } })
  const clients = (await setup.data[0].clients()).filter((c) => c.db === '2')
  t.ok(clients.length >= 1, 'the master has the plugin\'s connection')
  await app.close()
  await eventually(async () => (await setup.data[0].clients()).filter((c) => c.db === '2').length === 0)
  t.pass('close leaves no connection open')
  // As on a closed client: not ClientOfflineError, which says "try again later".
  await t.rejects(app.redis.ha.get('k'), new ClientClosedError(), 'a command after close: ClientClosedError')
  await t.rejects(app.redis.ha.multi().get('k').exec(), new ClientClosedError(), 'a MULTI after close too')
})

test('startup fails within connectTimeout, naming the master and the sentinels: none answers, unknown name, refused credentials', { skip }, async (t) => {
  const nobody = [`redis://127.0.0.1:${await freePort()}`, `redis://127.0.0.1:${await freePort()}`]
  const none = await startupError(testApp(), { sentinelNodes: nobody, sentinelName: 'mymaster', connectTimeout: 1500 })
  t.equal(none.err.code, 'FST_REDIS_CONNECT')
  t.match(none.err.message, new RegExp(`connection "redis" to sentinel master "mymaster" \\(db 0\\) via redis://${nobody.map((u) => u.slice(8)).join(',').replace(/\./g, '\\.')} failed at startup: no answer within 1500 ms \\(connectTimeout\\); last error: .*ECONNREFUSED`))
  t.ok(none.ms < 5000, `failed in ${none.ms} ms, long before node-redis's own 18 s`)

  const setup = await startSentinel(t, { password: PW })
  const unknown = await startupError(testApp(), { sentinelNodes: setup.urls, sentinelName: 'nosuchmaster', password: PW, connectTimeout: 1500 })
  t.equal(unknown.err.code, 'FST_REDIS_CONNECT')
  t.match(unknown.err.message, /to sentinel master "nosuchmaster" .* failed at startup: no answer within 1500 ms \(connectTimeout\); last error: ERR No such master with that name/)
  const wrong = secret('wrong-data-Pa55')
  const refused = await startupError(testApp(), { sentinelNodes: setup.urls, sentinelName: setup.name, password: wrong, connectTimeout: 1500 })
  t.equal(refused.err.code, 'FST_REDIS_CONNECT')
  t.match(refused.err.message, /to sentinel master "mymaster" \(db 0, password \*\*\*\) .* failed at startup: .*(WRONGPASS|invalid username-password)/)
  t.ok(refused.ms < 5000, `failed in ${refused.ms} ms`)
})

test('the master dies: commands fail fast, then succeed once a replica is promoted', { skip }, async (t) => {
  const setup = await startSentinel(t, { password: PW })
  const { app, logs } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, through(setup, { password: PW }))
  await app.redis.ha.set('before', '1')
  const old = setup.data[0]
  const killed = Date.now()
  await old.kill()
  // Fail fast: no command waits for the failover.
  await eventually(async () => {
    const started = Date.now()
    const failed = await app.redis.ha.get('before').then(() => false, () => true)
    return failed && Date.now() - started < 250
  }, 3000)
  t.pass('a command fails at once while the master is down')
  t.match(await redisHealth(app), { ok: false, connections: { ha: { status: 'down' } } })
  const back = await eventually(async () => await app.redis.ha.set('after', '1') === 'OK', 20000, 50)
  const ms = Date.now() - killed
  t.comment(`commands succeed again ${ms} ms after SIGKILL of the master (${back} ms of polling)`)
  const promoted = await setup.masterPort()
  t.not(promoted, old.port, 'a replica was promoted')
  t.equal(await app.redis.ha.get('before'), '1', 'what was written before is still there')
  t.match(await redisHealth(app), { ok: true })
  const lost = logs.filter((l) => /"ha" lost/.test(l.msg))
  t.equal(lost.length, 1, 'the outage is logged once')
  await eventually(async () => logs.some((l) => /"ha" is ready again after \d+ ms/.test(l.msg)), 5000)
  t.pass('and so is the recovery')
})

test('a dead sentinel among live ones changes nothing; a paused one neither', { skip }, async (t) => {
  const setup = await startSentinel(t)
  await setup.sentinels[0].kill()
  const { app } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, through(setup))
  t.equal(await app.redis.ha.set('k', 'v'), 'OK', 'startup skips the dead sentinel')
  setup.sentinels[1].pause()
  for (let i = 0; i < 5; i++) t.equal(await app.redis.ha.incr('n'), i + 1)
  t.match(await redisHealth(app), { ok: true })
  setup.sentinels[1].resume()
})

test('close is bounded with the master dead, or paused, or a sentinel paused', { skip }, async (t) => {
  for (const fault of ['master dead', 'master paused', 'sentinel paused'] as const) {
    const setup = await startSentinel(t)
    const app = testApp()
    await app.register(fastifyRedis, through(setup))
    await app.redis.ha.set('k', 'v')
    if (fault === 'master dead') await setup.data[0].kill()
    if (fault === 'master paused') setup.data[0].pause()
    if (fault === 'sentinel paused') for (const s of setup.sentinels) s.pause()
    const pending = app.redis.ha.get('k').catch((err: Error) => err)
    const started = Date.now()
    await app.close()
    const ms = Date.now() - started
    t.ok(ms < 1000 + 2000, `${fault}: closed in ${ms} ms (closeTimeout 1000)`)
    const result = await pending
    t.ok(result === 'v' || result instanceof Error, `${fault}: the pending command settled`)
    if (fault === 'master paused') setup.data[0].resume()
    if (fault === 'sentinel paused') for (const s of setup.sentinels) s.resume()
  }
})

test('a paused master: commands fail within the watchdog bound, then work after the failover', { skip }, async (t) => {
  const setup = await startSentinel(t)
  const { app } = appWithLogs(t, 'info')
  await app.register(fastifyRedis, through(setup))
  await app.redis.ha.set('k', 'v')
  const old = setup.data[0]
  old.pause()
  t.teardown(() => old.resume())
  const started = Date.now()
  const err = await app.redis.ha.get('k').then(() => undefined, (e: Error) => e)
  const ms = Date.now() - started
  t.ok(err instanceof Error, `the stalled command failed (${err?.message})`)
  t.ok(ms <= 1.5 * 1000 + 1500, `within 1.5 × commandTimeout (and the machine's load): ${ms} ms`)
  await setup.waitForNewMaster(old.port)
  await eventually(async () => await app.redis.ha.set('after', '1') === 'OK', 20000, 50)
  t.pass('commands work again on the promoted master')
  await sleep(10)
})

test('a clientClass builds the Sentinel client too; one that builds something else is refused; lazyConnect', { skip }, async (t) => {
  const setup = await startSentinel(t)
  const { createSentinel } = await import('redis') as unknown as { createSentinel: (o: object) => unknown }
  let built = 0
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, through(setup, { clientClass: (options: object) => { built++; return createSentinel(options) } }))
  t.equal(built, 1)
  t.equal(await app.redis.ha.set('k', 'v'), 'OK')
  const lazy = testApp()
  t.teardown(() => lazy.close())
  await lazy.register(fastifyRedis, through(setup, { lazyConnect: true }))
  await eventually(async () => await lazy.redis.ha.get('k') === 'v')
  t.pass('with lazyConnect, it connects in the background')
  const other = testApp()
  t.teardown(() => other.close())
  other.register(fastifyRedis, through(setup, { clientClass: () => ({ connect () {}, on () {}, off () {} }) }))
  await t.rejects(async () => { await other.ready() }, { code: 'FST_REDIS_CLIENT_CLASS', message: /returned an object without destroy\(\), ping\(\), getMasterNode\(\), getSentinelNode\(\), not a node-redis Sentinel client/ })
})
