import { EventEmitter } from 'node:events'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { createClient } from 'redis'
import { test } from 'tap'
import fastifyRedis, { type FastifyNodeRedisOptions, type RedisClient } from 'fastify-node-redis'
import { startRedis, type RedisServer } from './helpers/redis'
import { testApp } from './helpers/app'

type Client = RedisClient
type Traced = Client & { calls: Array<{ command: string, ms: number }> }

/** The commands a traced client recorded: the startup PING, then those of the test (health-check PINGs left out). */
function commands (client: Traced): string[] {
  const [first, ...rest] = client.calls.map((c) => c.command)
  return [first, ...rest.filter((c) => c !== 'PING')]
}

const FIXTURES = './test/fixtures'

function newApp (t: { teardown (fn: () => unknown): void }): FastifyInstance {
  const app = testApp()
  t.teardown(() => app.close())
  return app
}

function connection (app: FastifyInstance, name = 'redis'): any {
  return (app.redis as unknown as Record<string, unknown>)[name]
}

/** Registers one connection to `server` with `options` and waits until it is ready. */
async function register (t: { teardown (fn: () => unknown): void }, server: RedisServer, options: FastifyNodeRedisOptions): Promise<FastifyInstance> {
  const app = newApp(t)
  await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port, ...options })
  await app.ready()
  return app
}

test('a function is called with the node-redis options and its client becomes the connection', async (t) => {
  const server = await startRedis(t)
  const seen: object[] = []
  const app = await register(t, server, {
    db: 2,
    clientOptions: { name: 'from-a-function' },
    clientClass: (options) => {
      seen.push(options)
      return createClient(options)
    }
  })
  t.equal(seen.length, 1)
  t.match(seen[0], { socket: { host: '127.0.0.1', port: server.port }, database: 2, name: 'from-a-function', disableOfflineQueue: true })
  t.equal(await connection(app).set('k', 'v'), 'OK')
  t.match(await server.clients(), [{ name: 'from-a-function', db: '2' }])
})

test('commandTimeout becomes node-redis\'s per-command timeout only with the offline queue on', async (t) => {
  const server = await startRedis(t)
  const seen: Array<{ commandOptions?: unknown }> = []
  const clientClass = (options: object): unknown => {
    seen.push(options)
    return createClient(options)
  }
  await register(t, server, { prefix: 'QUEUE_OFF', commandTimeout: 700, clientClass })
  await register(t, server, { prefix: 'QUEUE_ON', commandTimeout: 700, clientOptions: { disableOfflineQueue: false }, clientClass })
  await register(t, server, { prefix: 'OWN', commandTimeout: 700, clientOptions: { disableOfflineQueue: false, commandOptions: { timeout: 90 } } as object, clientClass })
  t.equal(seen[0].commandOptions, undefined, 'queue off (the default): the watchdog alone, no timer per command')
  t.same(seen[1].commandOptions, { timeout: 700 }, 'queue on: commands waiting in it time out after commandTimeout (5.6+)')
  t.same(seen[2].commandOptions, { timeout: 90 }, 'the user\'s own timeout wins')
})

test('a class is constructed with the node-redis options', async (t) => {
  const server = await startRedis(t)
  const RedisClient = createClient().constructor as new (options: object) => Client
  class JsonRedis extends RedisClient {
    async setJSON (key: string, value: unknown): Promise<unknown> { return await this.set(key, JSON.stringify(value)) }
  }
  const app = await register(t, server, { clientClass: JsonRedis })
  const client = connection(app)
  t.ok(client instanceof JsonRedis)
  await client.setJSON('k', { a: [1, true, null] })
  t.equal(await server.command('GET', 'k'), '{"a":[1,true,null]}')
})

test('clientClass "specifier#export": a relative path resolves from the working directory', async (t) => {
  const server = await startRedis(t)
  t.equal(process.cwd(), resolve(__dirname, '..'), 'tests run from the repository root')

  t.test('a named export of a CommonJS module: the instrumented custom client', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/traced-client.js#createTracedClient` })
    const client = connection(app) as Traced
    await client.set('hits', '1')
    await client.incr('hits')
    t.equal(await client.get('hits'), '2')
    t.same(commands(client), ['PING', 'SET', 'INCR', 'GET'], 'every command was recorded, the startup PING too')
    t.ok(client.calls.every((c) => typeof c.ms === 'number' && c.ms >= 0), 'and timed')
  })

  t.test('no "#" means the default export', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/traced-client.js` })
    t.same(commands(connection(app)), ['PING'])
  })

  t.test('a class exported by a module is constructed', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/json-redis.js#JsonRedis` })
    const client = connection(app)
    t.equal(client.constructor.name, 'JsonRedis')
    await client.setJSON('thing', { n: 1.5, ok: false, nested: { list: ['a'] } })
    t.same(await client.getJSON('thing'), { n: 1.5, ok: false, nested: { list: ['a'] } })
  })

  t.test('an ES5 constructor with prototype methods is constructed too', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/legacy-class.js` })
    const client = connection(app)
    t.equal(client.builtBy, 'legacy-class.js')
    await client.set('k', 'legacy')
    t.equal(await client.get('k'), 'legacy')
  })

  t.test('an ES module', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/esm-client.mjs#createEsmClient` })
    t.equal(connection(app).builtBy, 'esm-client.mjs')
  })

  t.test('the default export of a transpiled ES module (exports.default with __esModule)', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/transpiled-default.js` })
    t.equal(connection(app).builtBy, 'transpiled-default.js')
  })

  t.test('a CommonJS export that Node cannot detect statically', async (t) => {
    const app = await register(t, server, { clientClass: `${FIXTURES}/computed-exports.js#createComputedClient` })
    t.equal(connection(app).builtBy, 'createComputedClient')
  })

  t.test('an absolute path', async (t) => {
    const app = await register(t, server, { clientClass: `${resolve(FIXTURES, 'traced-client.js')}#createTracedClient` })
    t.ok(Array.isArray(connection(app).calls))
  })

  t.test('surrounding blanks are ignored', async (t) => {
    const app = await register(t, server, { clientClass: `  ${FIXTURES}/traced-client.js \n` })
    t.ok(Array.isArray(connection(app).calls))
  })
})

/** node-redis's client class: the last prototype before EventEmitter's (5+ wrap it in generated classes and an Object.create() proxy). */
function clientClassOf (client: object): object {
  let proto = Object.getPrototypeOf(client)
  while (Object.getPrototypeOf(proto) !== EventEmitter.prototype) proto = Object.getPrototypeOf(proto)
  return proto
}

test('"redis#createClient" (the default, spelled out) is the application\'s own node-redis', async (t) => {
  const server = await startRedis(t)
  const app = await register(t, server, { clientClass: 'redis#createClient', db: 1 })
  const client = connection(app)
  t.equal(clientClassOf(client), clientClassOf(createClient()),
    'the same node-redis client class as require("redis").createClient builds')
  t.equal(await client.ping(), 'PONG')
  t.match(await server.clients(), [{ db: '1' }])
})

test('a bare name resolves from the node_modules of the working directory, not of this package', async (t) => {
  const server = await startRedis(t)
  // An application folder inside the repository (so its modules can still
  // require('redis')) with a provider package only it has, and a subpath import.
  const provider = `module.exports = require(${JSON.stringify(resolve(FIXTURES, 'traced-client.js'))})\n`
  const appDir = t.testdir({
    'package.json': JSON.stringify({ name: 'my-app', private: true, imports: { '#redis-client': './redis-client.js' } }),
    'redis-client.js': provider,
    node_modules: { 'acme-redis': { 'package.json': JSON.stringify({ name: 'acme-redis', main: 'index.js' }), 'index.js': provider } }
  })

  const app = newApp(t)
  app.register(fastifyRedis, { host: '127.0.0.1', port: server.port, clientClass: 'acme-redis#createTracedClient' })
  await t.rejects(async () => await app.ready(), {
    code: 'FST_REDIS_CLIENT_CLASS',
    message: `clientClass "acme-redis#createTracedClient" cannot be resolved from ${process.cwd()}: Cannot find module 'acme-redis'`
  }, 'not from the repository root')

  const cwd = process.cwd()
  process.chdir(appDir)
  t.teardown(() => process.chdir(cwd))
  const app2 = newApp(t)
  await app2.register(fastifyRedis, { host: '127.0.0.1', port: server.port, clientClass: 'acme-redis#createTracedClient' })
  await app2.register(fastifyRedis, { prefix: 'CACHE', host: '127.0.0.1', port: server.port, config: { CACHE_CLASS: 'acme-redis' } })
  await app2.register(fastifyRedis, { prefix: 'SESSIONS', host: '127.0.0.1', port: server.port, clientClass: '#redis-client' })
  await app2.ready()
  t.same(commands(connection(app2)), ['PING'], 'from the application folder it loads')
  t.ok(Array.isArray(connection(app2, 'cache').calls), 'bare name, default export, through a config key')
  t.ok(Array.isArray(connection(app2, 'sessions').calls), 'a subpath import of the application ("#…", default export)')
})

test('the class can come from the PREFIX_CLASS config key', async (t) => {
  const server = await startRedis(t)
  const app = newApp(t)
  await app.register(fastifyRedis, {
    prefix: 'CACHE',
    config: { CACHE_HOST: '127.0.0.1', CACHE_PORT: String(server.port), CACHE_CLASS: `${FIXTURES}/traced-client.js#createTracedClient` }
  })
  await app.ready()
  const client = connection(app, 'cache') as Traced
  await client.set('k', 'v')
  t.same(commands(client), ['PING', 'SET'])
})

test('an explicit clientClass option beats the PREFIX_CLASS key', async (t) => {
  const server = await startRedis(t)
  const app = await register(t, server, {
    config: { REDIS_CLASS: `${FIXTURES}/does-not-exist.js` },
    clientClass: `${FIXTURES}/esm-client.mjs#createEsmClient`
  })
  t.equal(connection(app).builtBy, 'esm-client.mjs')
})

test('a clientClass that cannot build a client fails registration with FST_REDIS_CLIENT_CLASS quoting it', async (t) => {
  const server = await startRedis(t)
  const cwd = process.cwd()
  const cases: Array<[string, string | RegExp]> = [
    [`${FIXTURES}/does-not-exist.js#build`,
      `cannot be resolved from ${cwd}: Cannot find module '${FIXTURES}/does-not-exist.js'`],
    ['no-such-package#createClient', `cannot be resolved from ${cwd}: Cannot find module 'no-such-package'`],
    [`${FIXTURES}/traced-client.js#createTracedClinet`,
      `has no export "createTracedClinet" (module ${resolve(FIXTURES, 'traced-client.js')})`],
    [`${FIXTURES}/esm-client.mjs`, `has no export "default" (module ${resolve(FIXTURES, 'esm-client.mjs')})`],
    [`${FIXTURES}/bad-builders.js#toString`, 'has no export "toString"'],
    ['redis#', 'is not of the form "specifier#export"'],
    ['#createClient', `cannot be resolved from ${cwd}: Cannot find module '#createClient'`],
    [`${FIXTURES}/broken-module.js`, 'failed to load: broken-module.js exploded while loading'],
    [`${FIXTURES}/bad-builders.js#notABuilder`, 'is not a function or a class, it is an object'],
    [`${FIXTURES}/bad-builders.js#nothing`, 'is not a function or a class, it is null'],
    [`${FIXTURES}/null-default.js`, 'is not a function or a class, it is null'],
    [`${FIXTURES}/bad-builders.js#throws`, 'threw while building the client: no Redis for you'],
    [`${FIXTURES}/bad-builders.js#throwsAString`, 'threw while building the client: "out of connections"'],
    [`${FIXTURES}/bad-builders.js#returnsNull`, 'returned null, not a node-redis client'],
    [`${FIXTURES}/bad-builders.js#returnsHalfAClient`, 'returned an object without disconnect(), ping(), off(), not a node-redis client'],
    [`${FIXTURES}/bad-builders.js#returnsAPromise`,
      'returned a Promise (build the client synchronously and leave connect() to the plugin), not a node-redis client']
  ]
  for (const [clientClass, problem] of cases) {
    const app = newApp(t)
    app.register(fastifyRedis, { host: '127.0.0.1', port: server.port, clientClass })
    await t.rejects(async () => await app.ready(), {
      code: 'FST_REDIS_CLIENT_CLASS',
      message: `fastify-node-redis: connection "redis": clientClass ${JSON.stringify(clientClass)} ${problem}`
    }, clientClass)
  }
  t.same(await server.clients(), [], 'no connection was opened')
})

test('the cause of a load or build failure is kept on the error', async (t) => {
  const app = newApp(t)
  app.register(fastifyRedis, { port: 1, clientClass: `${FIXTURES}/bad-builders.js#throws` })
  const err = await app.ready().then(() => undefined, (e: Error) => e)
  t.match(err, { code: 'FST_REDIS_CLIENT_CLASS', cause: { message: 'no Redis for you' } })

  const app2 = newApp(t)
  app2.register(fastifyRedis, { port: 1, clientClass: `${FIXTURES}/nope.js` })
  const err2 = await app2.ready().then(() => undefined, (e: Error) => e)
  t.match(err2, { code: 'FST_REDIS_CLIENT_CLASS', cause: { code: 'MODULE_NOT_FOUND' } })
})

test('functions and classes given directly are checked the same way', async (t) => {
  const cases: Array<[FastifyNodeRedisOptions['clientClass'], string]> = [
    [() => { throw new TypeError('bad options') }, 'clientClass threw while building the client: bad options'],
    [() => undefined, 'clientClass returned undefined, not a node-redis client'],
    [() => 'redis://localhost', 'clientClass returned "redis://localhost", not a node-redis client'],
    [class NotAClient {}, 'clientClass returned an object without connect(), disconnect(), ping(), on(), off(), not a node-redis client']
  ]
  for (const [clientClass, problem] of cases) {
    const app = newApp(t)
    app.register(fastifyRedis, { port: 1, clientClass })
    await t.rejects(async () => await app.ready(), {
      code: 'FST_REDIS_CLIENT_CLASS',
      message: `fastify-node-redis: connection "redis": ${problem}`
    }, problem)
  }
})

test('a clientClass of the wrong type is a FST_REDIS_CLIENT_CLASS error before anything loads', async (t) => {
  for (const clientClass of [42, '', '   ', { createClient }]) {
    const app = newApp(t)
    app.register(fastifyRedis, { port: 1, clientClass: clientClass as string })
    await t.rejects(async () => await app.ready(), {
      code: 'FST_REDIS_CLIENT_CLASS',
      message: /option "clientClass" must be a function, a class or a module path string "specifier#export"/
    }, String(clientClass))
  }
})
