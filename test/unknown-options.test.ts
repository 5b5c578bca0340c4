import { test } from 'tap'
import fastifyRedis from 'fastify-node-redis'
import { OPTIONS } from '../lib/keys'
import { resolveOptions, type FastifyNodeRedisOptions } from '../lib/options'
import { appWithLogs, testApp } from './helpers/app'
import { startRedis } from './helpers/redis'
import { checkError, secret } from './helpers/secret-guard'

const PW = secret('unknown-Pa55word')

/** The FST_REDIS_CONFIG message resolveOptions() throws for these options. */
function refusal (options: unknown): string {
  try {
    resolveOptions(options as FastifyNodeRedisOptions)
  } catch (err) {
    checkError(err)
    if ((err as { code?: string }).code !== 'FST_REDIS_CONFIG') throw err
    return (err as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(options)}`)
}

test('an unknown option is refused with FST_REDIS_CONFIG naming it, and "did you mean" for a slip', async (t) => {
  t.equal(refusal({ urll: 'redis://h' }), 'fastify-node-redis: connection "redis": option "urll" is unknown: did you mean "url"?')
  t.equal(refusal({ prefix: 'CACHE', hostt: 'h', portt: 1 }),
    'fastify-node-redis: connection "cache": option "hostt" is unknown: did you mean "host"?; option "portt" is unknown: did you mean "port"?')
  t.match(refusal({ prefx: 'CACHE' }), /option "prefx" is unknown: did you mean "prefix"\?/)
  t.match(refusal({ URL: 'redis://h' }), /option "URL" is unknown: did you mean "url"\?/, 'letter case')
  t.match(refusal({ unixSocket: '/s' }), /"unixSocket" is unknown/)
  t.match(refusal({ connectionTimeout: 1 }), /did you mean "connectTimeout"\?/)
  t.match(refusal({ zzz: 1 }), /option "zzz" is unknown \(the options are prefix, url, host, port, .*, config\)$/)
  t.match(refusal({ urll: undefined }), /"urll" is unknown/, 'a key set to undefined is still a typo')
  t.match(refusal({ urll: `redis://:${PW}@h` }), /"urll"/, 'the value, which may hold a password, is not shown')
})

test('the names @fastify/redis, ioredis and node-redis users bring get a hint of what to use here', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['namespace', /"namespace" is unknown: it is @fastify\/redis's connection name: here the prefix names the connection \(prefix: 'CACHE' → fastify\.redis\.cache/],
    ['keyPrefix', /"keyPrefix" is unknown: it is ioredis's: node-redis has no key prefix/],
    ['maxRetriesPerRequest', /node-redis does not retry commands.*disableOfflineQueue.*commandTimeout/],
    ['enableAutoPipelining', /node-redis already pipelines the commands sent in the same tick/],
    ['enableOfflineQueue', /use clientOptions\.disableOfflineQueue/],
    ['retryStrategy', /use clientOptions\.socket\.reconnectStrategy/],
    ['connectionName', /use clientOptions\.name/],
    ['name', /the prefix names it .*clientOptions\.name/],
    ['database', /use db/],
    ['path', /use unixSocketPath/],
    ['socket', /use clientOptions\.socket/],
    ['timeout', /use connectTimeout \(startup\), commandTimeout .* or closeTimeout/],
    ['pingInterval', /is a node-redis client option: put it in clientOptions/],
    ['scripts', /put it in clientOptions/],
    ['useReplicas', /is a node-redis cluster option: put it in clusterOptions/],
    ['rootNodes', /give the cluster nodes with clusterNodes/]
  ]
  for (const [key, message] of cases) t.match(refusal({ [key]: 1 }), message, key)
})

test('clientOptions and clusterOptions keys stay node-redis\'s; every listed option is known', async (t) => {
  t.doesNotThrow(() => resolveOptions({ clientOptions: { anything: 1 } as object }))
  t.doesNotThrow(() => resolveOptions({ clusterNodes: 'redis://h:1', clusterOptions: { anything: 1 } as object }))
  const every = Object.fromEntries(Object.keys(OPTIONS).map((key) => [key, undefined]))
  t.doesNotThrow(() => resolveOptions(every))
})

test('Fastify\'s own register options (logLevel, logSerializers) are not unknown', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  t.doesNotThrow(() => resolveOptions({ logLevel: 'warn', logSerializers: {} } as FastifyNodeRedisOptions))
  await app.register(fastifyRedis, { port: server.port, logLevel: 'warn', logSerializers: { req: (r: unknown) => String(r) } })
  t.equal(await (app.redis as unknown as Record<string, { ping (): Promise<string> }>).redis.ping(), 'PONG')
})

test('an unknown option fails registration before anything is connected', async (t) => {
  const app = testApp()
  t.teardown(() => app.close())
  app.register(fastifyRedis, { prefix: 'CACHE', namespace: 'cache' } as FastifyNodeRedisOptions)
  await t.rejects(async () => await app.ready(), { code: 'FST_REDIS_CONFIG', message: /connection "cache": option "namespace" is unknown: it is @fastify\/redis's/ })
})

test('config keys with this connection\'s prefix that are not read are warned about, by name', async (t) => {
  const warnings: string[] = []
  const spec = resolveOptions({
    prefix: 'cache',
    config: {
      CACHE_PORT: '6390',
      CACHE_PROT: '1', // a slip
      cache_url: 'redis://elsewhere', // lower-case: not read
      Cache_Db: '3',
      CACHE_ZZZ: 'x', // nothing like a key
      CACHE_SESSIONS_URL: 'redis://h', // another connection's (prefix CACHE_SESSIONS)
      REDIS_PORT: '1', // another prefix
      PORT: 3000 // the application's
    }
  }, undefined, (line) => warnings.push(line))
  t.equal(spec.port, 6390)
  t.same(warnings, [
    'connection "cache": config key CACHE_PROT is not read: did you mean CACHE_PORT?',
    'connection "cache": config key cache_url is not read: config keys are upper-case, did you mean CACHE_URL?',
    'connection "cache": config key Cache_Db is not read: config keys are upper-case, did you mean CACHE_DB?',
    'connection "cache": config key CACHE_ZZZ is not read (the keys are CACHE_URL, CACHE_HOST, CACHE_PORT, CACHE_DB, CACHE_USERNAME, CACHE_PASSWORD, CACHE_UNIX_SOCKET_PATH, CACHE_TLS, CACHE_CONNECT_TIMEOUT, CACHE_CLOSE_TIMEOUT, CACHE_COMMAND_TIMEOUT, CACHE_CLASS, CACHE_LAZY_CONNECT, CACHE_METRICS, CACHE_CLUSTER_NODES, CACHE_POOL, CACHE_SUBSCRIBER, CACHE_SAME_AS, CACHE_SENTINEL_NODES, CACHE_SENTINEL_NAME, CACHE_SENTINEL_USERNAME, CACHE_SENTINEL_PASSWORD)'
  ])
  t.doesNotThrow(() => resolveOptions({ config: { REDIS_PROT: 1 } }), 'without a listener nothing is said, nothing fails')
})

test('the plugin logs a warning for an unread config key and connects anyway', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { config: { REDIS_PORT: server.port, REDIS_PASWORD: PW } })
  const warning = logs.find((line) => /REDIS_PASWORD/.test(line.msg))
  t.match(warning, { level: 40, redis: 'redis', msg: 'fastify-node-redis: connection "redis": config key REDIS_PASWORD is not read: did you mean REDIS_PASSWORD?' })
})
