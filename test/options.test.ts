import { test } from 'tap'
import { resolveOptions, nameOf, type FastifyNodeRedisOptions } from '../lib/options'
import { secret } from './helpers/secret-guard'

// The passwords of this file, registered with the suite's secret guard.
const PW = secret('opt-Pa55word')
const OTHER_PW = secret('other-Pa55word')
const NUMBER_PW = Number(secret('27182818284'))
const PW_PATTERN = /opt-Pa55word|other-Pa55word|27182818284/

const pick = (spec: ReturnType<typeof resolveOptions>) => ({
  host: spec.host, port: spec.port, socketPath: spec.socketPath, db: spec.db, username: spec.username, password: spec.password, tls: spec.tls
})

test('defaults to redis://localhost:6379/0 and the name "redis"', async (t) => {
  const spec = resolveOptions()
  t.equal(spec.name, 'redis')
  t.equal(spec.prefix, 'REDIS')
  t.equal(spec.target, 'redis://localhost:6379/0')
  t.same(pick(spec), { host: 'localhost', port: 6379, socketPath: undefined, db: 0, username: undefined, password: undefined, tls: false })
  t.equal(spec.connectTimeout, 5000)
  t.equal(spec.closeTimeout, 5000)
  t.equal(spec.lazyConnect, false)
  t.equal(spec.clientOptions.disableOfflineQueue, true)
  t.ok(Object.isFrozen(spec))
})

test('the prefix names the connection and the config keys', async (t) => {
  t.equal(nameOf({ prefix: 'CACHE' }), 'cache')
  t.equal(nameOf({ prefix: 'Sessions_2' }), 'sessions_2')
  const spec = resolveOptions({ prefix: 'CACHE', config: { CACHE_PORT: '6380', REDIS_PORT: '1' } })
  t.equal(spec.port, 6380)
})

test('config keys: numeric strings, booleans, empty strings mean unset', async (t) => {
  const spec = resolveOptions({
    config: {
      REDIS_HOST: 'example.org',
      REDIS_PORT: '6390',
      REDIS_DB: '3',
      REDIS_USERNAME: 'app',
      REDIS_PASSWORD: PW,
      REDIS_CONNECT_TIMEOUT: '1500',
      REDIS_CLOSE_TIMEOUT: 700,
      REDIS_LAZY_CONNECT: 'true',
      REDIS_TLS: 'false',
      REDIS_UNIX_SOCKET_PATH: '',
      REDIS_URL: null
    }
  })
  t.same(pick(spec), { host: 'example.org', port: 6390, socketPath: undefined, db: 3, username: 'app', password: PW, tls: false })
  t.equal(spec.connectTimeout, 1500)
  t.equal(spec.closeTimeout, 700)
  t.equal(spec.lazyConnect, true)
  t.equal(spec.target, 'rediss://app:***@example.org:6390/3'.replace('rediss', 'redis'))
  t.equal(resolveOptions({ config: { REDIS_LAZY_CONNECT: '0', REDIS_TLS: 'yes' } }).lazyConnect, false)
})

test('explicit options beat config keys, field by field', async (t) => {
  const spec = resolveOptions({ host: 'explicit', db: 2, config: { REDIS_HOST: 'config', REDIS_PORT: 6400, REDIS_DB: 9 } })
  t.same(pick(spec), { host: 'explicit', port: 6400, socketPath: undefined, db: 2, username: undefined, password: undefined, tls: false })
})

test('fastify.config is the fallback config; options.config replaces it', async (t) => {
  t.equal(resolveOptions({}, { REDIS_PORT: 7000 }).port, 7000)
  t.equal(resolveOptions({ config: { REDIS_PORT: 7001 } }, { REDIS_PORT: 7000 }).port, 7001)
  t.equal(resolveOptions({}, undefined).port, 6379)
})

test('the URL wins over discrete keys for what it contains', async (t) => {
  const spec = resolveOptions({
    url: 'redis://other:6381/4',
    host: 'ignored',
    port: 1,
    unixSocketPath: '/ignored.sock',
    db: 7,
    password: PW,
    config: { REDIS_USERNAME: 'kept-user' }
  })
  t.same(pick(spec), { host: 'other', port: 6381, socketPath: undefined, db: 4, username: 'kept-user', password: PW, tls: false })
  t.equal(spec.target, 'redis://kept-user:***@other:6381/4')

  const fromConfig = resolveOptions({ host: 'explicit', config: { REDIS_URL: `redis://:${OTHER_PW}@from-url/2` } })
  t.same(pick(fromConfig), { host: 'from-url', port: 6379, socketPath: undefined, db: 2, username: undefined, password: OTHER_PW, tls: false })

  t.same(pick(resolveOptions({ url: 'redis:///2', port: 1 })), { host: 'localhost', port: 6379, socketPath: undefined, db: 2, username: undefined, password: undefined, tls: false }, 'a URL without host or port means localhost:6379')

  const noDb = resolveOptions({ url: 'redis://h', db: 5 })
  t.equal(noDb.db, 5, 'a URL without a db keeps DB')

  const socket = resolveOptions({ url: 'unix:///tmp/x.sock?db=2', host: 'h', port: 1 })
  t.same(pick(socket), { host: undefined, port: undefined, socketPath: '/tmp/x.sock', db: 2, username: undefined, password: undefined, tls: false })
  t.equal(socket.target, 'unix:///tmp/x.sock?db=2')
})

test('TLS from rediss://, the tls option and the TLS key', async (t) => {
  t.same(resolveOptions({ url: 'rediss://h' }).tls, {})
  t.equal(resolveOptions({ url: 'rediss://h' }).target, 'rediss://h:6379/0')
  t.same(resolveOptions({ url: 'rediss://h', tls: { servername: 'x' } }).tls, { servername: 'x' })
  t.same(resolveOptions({ tls: true }).tls, {})
  t.same(resolveOptions({ config: { REDIS_TLS: 'true' } }).tls, {})
  t.equal(resolveOptions({ tls: false }).tls, false)
  const given = { ca: 'pem' }
  const spec = resolveOptions({ tls: given })
  t.same(spec.tls, { ca: 'pem' })
  t.not(spec.tls, given, 'a copy, never the user\'s object')
})

test('a host starting with / is a unix socket', async (t) => {
  const spec = resolveOptions({ host: '/var/run/redis.sock', port: 6380 })
  t.same(pick(spec), { host: undefined, port: undefined, socketPath: '/var/run/redis.sock', db: 0, username: undefined, password: undefined, tls: false })
  t.equal(resolveOptions({ unixSocketPath: '/a.sock', host: '/b.sock' }).socketPath, '/a.sock')
  t.equal(resolveOptions({ unixSocketPath: '/a.sock', username: 'u', password: PW }).target, 'unix://u:***@/a.sock?db=0')
  t.equal(resolveOptions({ username: 'u' }).target, 'redis://u@localhost:6379/0')
  t.equal(resolveOptions({ host: '::1' }).target, 'redis://[::1]:6379/0')
})

test('an empty password means no password', async (t) => {
  t.equal(resolveOptions({ password: '' }).password, undefined)
  t.equal(resolveOptions({ url: 'redis://:@h' }).password, undefined)
})

test('clientOptions are copied, defaulted and guarded', async (t) => {
  const socket = { noDelay: false }
  const given = { name: 'x', socket }
  const spec = resolveOptions({ clientOptions: given })
  t.same(spec.clientOptions, { disableOfflineQueue: true, name: 'x', socket: { noDelay: false } })
  t.not(spec.clientOptions.socket, socket)
  t.same(given, { name: 'x', socket: { noDelay: false } }, 'input untouched')
  t.equal(resolveOptions({ clientOptions: { disableOfflineQueue: false } }).clientOptions.disableOfflineQueue, false)
})

test('a client passed in', async (t) => {
  const client = { connect () {}, on () {} }
  const spec = resolveOptions({ client, lazyConnect: true })
  t.equal(spec.client, client)
  t.equal(spec.closeClient, false)
  t.equal(spec.lazyConnect, true)
  t.equal(spec.target, '(a client passed in)')
  t.equal(resolveOptions({ client, closeClient: true }).closeClient, true)
})

test('bad input: FST_REDIS_CONFIG naming the connection, the key and the value', async (t) => {
  const client = { connect () {}, on () {} }
  const cases: Array<[FastifyNodeRedisOptions | unknown, RegExp]> = [
    ['nope', /options must be an object, got "nope"/],
    [{ prefix: '1A' }, /option "prefix" must match .*got "1A"/],
    [{ prefix: '__proto__' }, /got "__proto__"/],
    [{ prefix: 'a-b' }, /got "a-b"/],
    [{ prefix: '' }, /got ""/],
    [{ prefix: 5 }, /got 5/],
    [{ port: 0 }, /connection "redis": option "port" must be an integer from 1 to 65535, got 0/],
    [{ port: 70000 }, /option "port" must be an integer from 1 to 65535, got 70000/],
    [{ port: 'abc' }, /option "port" .* got "abc"/],
    [{ port: 1.5 }, /got 1.5/],
    [{ prefix: 'CACHE', config: { CACHE_PORT: 'x1' } }, /connection "cache": config key CACHE_PORT must be an integer from 1 to 65535, got "x1"/],
    [{ db: -1 }, /option "db" must be an integer ≥ 0, got -1/],
    [{ db: 'x' }, /option "db" must be an integer ≥ 0, got "x"/],
    [{ host: '' }, /option "host" must be a non-empty string, got ""/],
    [{ host: 42 }, /option "host" must be a non-empty string, got 42/],
    [{ host: (() => () => {})() }, /option "host" must be a non-empty string, got a function \(anonymous\)/],
    [{ host: function named () {} }, /got a function \(named\)/],
    [{ username: {} }, /option "username" must be a non-empty string, got an object/],
    [{ unixSocketPath: [] }, /option "unixSocketPath" must be a non-empty string, got an array/],
    [{ password: NUMBER_PW }, /option "password" must be a string, got \(value hidden\)/],
    [{ config: { REDIS_PASSWORD: NUMBER_PW } }, /config key REDIS_PASSWORD must be a string, got \(value hidden\)/],
    [{ connectTimeout: 0 }, /option "connectTimeout" must be an integer from 1 to 2147483647, got 0/],
    [{ closeTimeout: -5 }, /option "closeTimeout" .* got -5/],
    [{ lazyConnect: 'maybe' }, /option "lazyConnect" must be a boolean: true or false .*got "maybe"/],
    [{ tls: 'on' }, /option "tls" must be a boolean: true or false .*got "on"/],
    [{ tls: null }, /option "tls" must be a boolean: true or false .*got null/],
    [{ url: '' }, /option "url" must be a non-empty string, got ""/],
    [{ url: 5 }, /option "url" must be a non-empty string, got 5/],
    [{ url: `http://u:${PW}@h` }, /option "url" http:\/\/u:\*\*\*@h is not a valid Redis URL: its scheme "http:"/],
    [{ config: { REDIS_URL: `redis://:${PW}@h:99999` } }, /config key REDIS_URL redis:\/\/:\*\*\*@h:99999 is not a valid Redis URL: its port 99999/],
    [{ url: 'redis://h', tls: true }, /is a redis: URL but TLS is also requested/],
    [{ url: 'unix:///s.sock', config: { REDIS_TLS: true } }, /is a unix: URL but TLS is also requested/],
    [{ config: 'x' }, /option "config" must be an object, got "x"/],
    [{ clientOptions: 'x' }, /option "clientOptions" must be an object/],
    [{ clientOptions: { url: 'redis://x' } }, /option "clientOptions.url" is not accepted: set the plugin's own "url" option/],
    [{ clientOptions: { database: 1 } }, /"clientOptions.database" is not accepted: set the plugin's own "db" option/],
    [{ clientOptions: { password: PW } }, /"clientOptions.password" is not accepted/],
    [{ clientOptions: { socket: 5 } }, /option "clientOptions.socket" must be an object, got 5/],
    [{ clientOptions: { socket: { host: 'x' } } }, /"clientOptions.socket.host" is not accepted/],
    [{ clientOptions: { socket: { tls: true } } }, /"clientOptions.socket.tls" is not accepted/],
    [{ clientOptions: { socket: { signal: new AbortController().signal } as object } }, /"clientOptions.socket.signal" is not accepted: the plugin gives every socket it opens an abort signal of its own/],
    [{ client: {} }, /option "client" must be a node-redis client/],
    [{ client: null }, /option "client" must be a node-redis client .*got null/],
    [{ client, url: 'redis://h' }, /option "url" cannot be combined with option "client"/],
    [{ client, closeClient: 'yes' }, /option "closeClient" must be a boolean, got "yes"/],
    [{ closeClient: true }, /option "closeClient" only applies together with option "client"/]
  ]
  for (const [options, message] of cases) {
    const label = JSON.stringify(options) ?? String(options)
    try {
      resolveOptions(options as FastifyNodeRedisOptions)
      t.fail(`accepted ${label}`)
    } catch (err) {
      const e = err as Error & { code: string }
      t.equal(e.code, 'FST_REDIS_CONFIG', label)
      t.match(e.message, message, label)
      t.match(e.message, /^fastify-node-redis: /)
      t.notMatch(e.message, PW_PATTERN, 'no secret')
    }
  }
})

test('clientClass garbage is FST_REDIS_CLIENT_CLASS', async (t) => {
  for (const clientClass of [5, {}, '', '   ', null, true]) {
    if (clientClass === null) continue
    t.throws(() => resolveOptions({ clientClass: clientClass as string }), { code: 'FST_REDIS_CLIENT_CLASS' }, String(clientClass))
  }
  t.equal(resolveOptions({ clientClass: ' redis#createClient ' }).clientClass, 'redis#createClient')
  const fn = () => ({})
  t.equal(resolveOptions({ clientClass: fn }).clientClass, fn)
  t.throws(() => resolveOptions({ config: { REDIS_CLASS: 7 } }), { message: /config key REDIS_CLASS must be a function, a class or a module path/ })
})

test('cluster nodes: root nodes, credentials and TLS from the URLs or the keys', async (t) => {
  const spec = resolveOptions({ prefix: 'CACHE', config: { CACHE_CLUSTER_NODES: ' redis://a:7000, redis://b:7001 ,redis://[::1]', CACHE_PASSWORD: PW } })
  t.same(spec.cluster?.rootNodes, [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }, { host: '::1', port: 6379 }])
  t.equal(spec.target, 'cluster redis://:***@a:7000,b:7001,[::1]:6379')
  t.equal(spec.password, PW)
  t.same(spec.cluster?.options, {})
  t.ok(Object.isFrozen(spec.cluster))

  const fromUrls = resolveOptions({ clusterNodes: [`rediss://app:${PW}@a:1/0`, `rediss://app:${PW}@b:2`, 'rediss://c:3'], username: 'other', tls: { ca: 'pem' } })
  t.match(fromUrls, { username: 'app', password: PW, tls: { ca: 'pem' }, target: 'cluster rediss://app:***@a:1,b:2,c:3' })
  t.match(resolveOptions({ clusterNodes: 'redis://h:1', username: 'u' }), { target: 'cluster redis://u@h:1' })
  t.match(resolveOptions({ clusterNodes: 'redis://:@h:1' }), { password: undefined })
  t.match(resolveOptions({ clusterNodes: 'redis://h:1', password: '' }), { password: undefined })
  t.match(resolveOptions({ clusterNodes: 'redis://app@a:1,redis://app@b,redis://:7000' }), {
    username: 'app',
    password: undefined,
    target: 'cluster redis://app@a:1,b:6379,localhost:7000',
    cluster: { rootNodes: [{ host: 'a', port: 1 }, { host: 'b', port: 6379 }, { host: 'localhost', port: 7000 }] }
  })
  t.match(resolveOptions({ clusterNodes: ['rediss://a:1'] }), { tls: {}, target: 'cluster rediss://a:1' })
  t.same(resolveOptions({ clusterNodes: 'redis://h:1', clusterOptions: { useReplicas: true } }).cluster?.options, { useReplicas: true })

  const given = { useReplicas: true, defaults: { socket: { noDelay: false }, name: 'x' } }
  const withOptions = resolveOptions({ clusterNodes: 'redis://h:1', clusterOptions: given })
  t.same(withOptions.cluster?.options, given)
  t.not(withOptions.cluster?.options.defaults?.socket, given.defaults.socket, 'copied')
  t.same(resolveOptions({ clusterNodes: 'redis://h:1', clusterOptions: { defaults: { name: 'n' } } }).cluster?.options, { defaults: { name: 'n' } })
})

test('cluster nodes: bad input is FST_REDIS_CONFIG', async (t) => {
  const cases: Array<[FastifyNodeRedisOptions, RegExp]> = [
    [{ clusterNodes: [] }, /option "clusterNodes" must be a list of node URLs/],
    [{ clusterNodes: ' , ' }, /must be a list of node URLs/],
    [{ clusterNodes: [5 as unknown as string] }, /must be a list of node URLs/],
    [{ clusterNodes: 'h:7000' }, /option "clusterNodes" h:7000 is not a valid Redis URL/],
    [{ clusterNodes: 'unix:///tmp/s.sock' }, /cluster nodes are reached over TCP, not unix sockets/],
    [{ clusterNodes: 'redis://h:1/2' }, /has redis:\/\/h:1\/2: Redis Cluster has database 0 only/],
    [{ clusterNodes: 'redis://a:1,rediss://b:2' }, /mixes redis:\/\/ and rediss:\/\/ nodes/],
    [{ clusterNodes: `redis://u:${PW}@a:1,redis://u:${OTHER_PW}@b:2` }, /gives different credentials for different nodes/],
    [{ clusterNodes: 'redis://a:1', tls: true }, /has redis:\/\/ nodes but TLS is also requested/],
    [{ clusterNodes: 'redis://a:1', url: 'redis://b' }, /option "url" cannot be combined with cluster nodes \(option "clusterNodes"\): the nodes say where to connect/],
    [{ config: { REDIS_CLUSTER_NODES: 'redis://a:1', REDIS_HOST: 'b' } }, /config key REDIS_HOST cannot be combined with cluster nodes \(config key REDIS_CLUSTER_NODES\)/],
    [{ clusterNodes: 'redis://a:1', port: 1 }, /option "port" cannot be combined/],
    [{ clusterNodes: 'redis://a:1', unixSocketPath: '/s' }, /option "unixSocketPath" cannot be combined/],
    [{ clusterNodes: 'redis://a:1', clientOptions: {} }, /option "clientOptions" cannot be combined with cluster nodes .*use clusterOptions/],
    [{ clusterNodes: 'redis://a:1', db: 3 }, /option "db" must be 0 with cluster nodes/],
    [{ clusterOptions: {} }, /option "clusterOptions" only applies together with cluster nodes \(option "clusterNodes" or config key REDIS_CLUSTER_NODES\)/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: 5 as unknown as object }, /option "clusterOptions" must be an object, got 5/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { rootNodes: [] } }, /"clusterOptions.rootNodes" is not accepted/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { defaults: 5 as unknown as object } }, /"clusterOptions.defaults" must be an object/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { defaults: { password: PW } } }, /"clusterOptions.defaults.password" is not accepted/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { defaults: { socket: 5 as unknown as object } } }, /"clusterOptions.defaults.socket" must be an object/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { defaults: { socket: { port: 1 } } } }, /"clusterOptions.defaults.socket.port" is not accepted/],
    [{ clusterNodes: 'redis://a:1', clusterOptions: { defaults: { socket: { signal: new AbortController().signal } as object } } }, /"clusterOptions.defaults.socket.signal" is not accepted/],
    [{ sentinelNodes: 'redis://a:1', sentinelName: 'm', pool: true }, /option "pool" cannot be combined with sentinel nodes \(option "sentinelNodes"\): the Sentinel client pools its master connections itself/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => resolveOptions(options), { code: 'FST_REDIS_CONFIG', message }, JSON.stringify(options))
    try {
      resolveOptions(options)
    } catch (err) {
      t.notMatch((err as Error).message, PW_PATTERN)
    }
  }
})

test('config keys are read with the upper-cased prefix: cache and CACHE both read CACHE_*', async (t) => {
  const config = { CACHE_PORT: '6380', cache_PORT: '1', CACHE_DB: 2 }
  for (const prefix of ['cache', 'CACHE', 'Cache']) {
    const spec = resolveOptions({ prefix, config })
    t.equal(spec.name, 'cache', prefix)
    t.equal(spec.prefix, 'CACHE', prefix)
    t.equal(spec.port, 6380, prefix)
    t.equal(spec.db, 2, prefix)
  }
  t.throws(() => resolveOptions({ prefix: 'cache', config: { CACHE_PORT: 'x' } }), { message: /config key CACHE_PORT must be/ })
  t.throws(() => resolveOptions({ prefix: 'cache', clusterOptions: {} }), { message: /config key CACHE_CLUSTER_NODES\)/ })
})

test('booleans: true/false, the numbers 1/0 and the words; a bad one\'s message lists them', async (t) => {
  for (const [value, expected] of [[1, true], [0, false], ['1', true], ['0', false], ['YES', true], ['no', false], ['True', true], [true, true], [false, false]] as const) {
    t.equal(resolveOptions({ lazyConnect: value }).lazyConnect, expected, JSON.stringify(value))
    t.equal(resolveOptions({ config: { REDIS_LAZY_CONNECT: value } }).lazyConnect, expected, `config ${JSON.stringify(value)}`)
  }
  t.same(resolveOptions({ tls: 1 }).tls, {})
  t.equal(resolveOptions({ config: { REDIS_TLS: 0 } }).tls, false)
  for (const value of [2, 'on', 'maybe', -1]) {
    t.throws(() => resolveOptions({ config: { REDIS_TLS: value } }), {
      code: 'FST_REDIS_CONFIG',
      message: `fastify-node-redis: connection "redis": config key REDIS_TLS must be a boolean: true or false (in config also "true"/"false", "1"/"0" or "yes"/"no", in any case, or the numbers 1/0), got ${JSON.stringify(value)}`
    }, String(value))
  }
})

test('a host that is a URL is FST_REDIS_CONFIG pointing at url and unixSocketPath', async (t) => {
  t.throws(() => resolveOptions({ config: { REDIS_HOST: 'file:///x.sock' } }), {
    code: 'FST_REDIS_CONFIG',
    message: 'fastify-node-redis: connection "redis": config key REDIS_HOST looks like a URL ("file:///x.sock"), not a host name: put a redis://, rediss:// or unix:// URL in option "url" (config key REDIS_URL) and a socket path in option "unixSocketPath" (config key REDIS_UNIX_SOCKET_PATH)'
  })
  try {
    resolveOptions({ prefix: 'CACHE', host: `redis://:${PW}@h:6379` })
    t.fail('accepted a URL as host')
  } catch (err) {
    t.match((err as Error).message, /connection "cache": option "host" looks like a URL \("redis:\/\/:\*\*\*@h:6379"\)/)
    t.notMatch((err as Error).message, PW_PATTERN)
  }
})
