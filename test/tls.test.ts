import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import fastifyRedis, { type FastifyNodeRedisOptions } from 'fastify-node-redis'
import { startupError, testApp } from './helpers/app'
import { freePort, makeCerts, startRedis } from './helpers/redis'
import { checkText } from './helpers/secret-guard'

type Tap = Parameters<Parameters<typeof test>[0]>[0]

// A TLS failure must be reported at once, not after retrying until the deadline.
const CONNECT_TIMEOUT = 5000
const FAST = 1500

function newApp (t: { teardown (fn: () => unknown): void }): FastifyInstance {
  const app = testApp()
  t.teardown(() => app.close())
  return app
}

async function ping (app: FastifyInstance, name = 'redis'): Promise<unknown> {
  return await (app.redis as unknown as Record<string, { ping (): Promise<unknown> }>)[name].ping()
}

/** Registers, expects startup to fail; returns the error and how long it took. */
async function failure (t: Tap, options: FastifyNodeRedisOptions): Promise<{ err: any, ms: number }> {
  const failed = await startupError(newApp(t), { connectTimeout: CONNECT_TIMEOUT, ...options })
  t.match(failed.err, { code: 'FST_REDIS_CONNECT' }, 'startup fails')
  return failed
}

test('TLS with the CA of the server: rediss:// URL, tls option, PREFIX_TLS key', async (t) => {
  const server = await startRedis(t, { tls: true })
  const ca = server.certs!.caPem

  t.test('a rediss:// URL with { ca }', async (t) => {
    const app = newApp(t)
    await app.register(fastifyRedis, { url: `rediss://localhost:${server.port}/3`, tls: { ca } })
    t.equal(await ping(app), 'PONG')
    t.match(await server.clients(), [{ db: '3' }])
  })

  t.test('the tls option with host and port', async (t) => {
    const app = newApp(t)
    await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port, tls: { ca } })
    t.equal(await ping(app), 'PONG', 'the certificate names IP 127.0.0.1 too')
  })

  t.test('the tls option beats PREFIX_TLS=false', async (t) => {
    const app = newApp(t)
    await app.register(fastifyRedis, {
      tls: { ca },
      config: { REDIS_HOST: 'localhost', REDIS_PORT: String(server.port), REDIS_TLS: 'false' }
    })
    t.equal(await ping(app), 'PONG')
  })

  t.test('a rediss:// URL from the config, the CA in the tls option', async (t) => {
    const app = newApp(t)
    await app.register(fastifyRedis, { tls: { ca }, config: { REDIS_URL: `rediss://localhost:${server.port}` } })
    t.equal(await ping(app), 'PONG')
  })

  t.test('the options object given is not modified', async (t) => {
    const tls = Object.freeze({ ca })
    const app = newApp(t)
    await app.register(fastifyRedis, { host: 'localhost', port: server.port, tls })
    t.same(tls, { ca })
    t.equal(await ping(app), 'PONG')
  })
})

test('rediss:// or PREFIX_TLS=true with NODE_EXTRA_CA_CERTS: TLS with a private CA from the environment alone', async (t) => {
  const server = await startRedis(t, { tls: true })
  // Same node flags as this test (TypeScript loader, source conditions), so
  // the child's coverage of lib/ merges with this process's.
  const child = spawn(process.execPath, [...process.execArgv, resolve(__dirname, 'fixtures/env-tls-app.ts')], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(REDIS|CACHE)_/.test(key))),
      NODE_EXTRA_CA_CERTS: server.certs!.ca,
      REDIS_URL: `rediss://localhost:${server.port}/4`,
      CACHE_HOST: 'localhost',
      CACHE_PORT: String(server.port),
      CACHE_DB: '5',
      CACHE_TLS: 'true'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  child.stderr.on('data', (chunk) => { out += chunk })
  const [code] = await once(child, 'exit')
  checkText(out, 'env-tls-app output')
  t.equal(code, 0, out)
  t.match(out, /^redis: PONG db=4$/m)
  t.match(out, /^cache: PONG db=5$/m)
})

test('an untrusted certificate fails startup at once, naming the TLS cause', async (t) => {
  const server = await startRedis(t, { tls: true })

  const cases: Array<[string, FastifyNodeRedisOptions]> = [
    ['a rediss:// URL without the CA', { url: `rediss://localhost:${server.port}` }],
    ['tls: true without the CA', { host: 'localhost', port: server.port, tls: true }],
    ['tls: {} without the CA', { host: 'localhost', port: server.port, tls: {} }],
    ['PREFIX_TLS=true without the CA', { config: { REDIS_HOST: 'localhost', REDIS_PORT: String(server.port), REDIS_TLS: 'true' } }],
    ['rejectUnauthorized: undefined is not "off"', { url: `rediss://localhost:${server.port}`, tls: { rejectUnauthorized: undefined } }]
  ]
  for (const [name, options] of cases) {
    const { err, ms } = await failure(t, options)
    t.ok(ms < FAST, `${name}: failed in ${ms} ms, well under connectTimeout (${CONNECT_TIMEOUT} ms)`)
    t.match(err.message, new RegExp(`^fastify-node-redis: connection "redis" to rediss://localhost:${server.port}/0 failed at startup: self[- ]signed certificate in certificate chain$`), name)
    t.match(err.cause, { code: 'SELF_SIGNED_CERT_IN_CHAIN' }, `${name}: the cause is kept`)
  }
  t.same(await server.clients(), [], 'nothing stays connected')
})

test('the server name is verified too', async (t) => {
  const server = await startRedis(t, { tls: true })
  const { err, ms } = await failure(t, { url: `rediss://localhost:${server.port}`, tls: { ca: server.certs!.caPem, servername: 'redis.example.com' } })
  t.ok(ms < FAST, `failed in ${ms} ms`)
  t.match(err.message, /failed at startup: Hostname\/IP does not match certificate's altnames/)
  t.match(err.cause, { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
})

test('verification is off only when rejectUnauthorized: false is set explicitly', async (t) => {
  const server = await startRedis(t, { tls: true })
  const app = newApp(t)
  await app.register(fastifyRedis, { url: `rediss://localhost:${server.port}`, tls: { rejectUnauthorized: false } })
  t.equal(await ping(app), 'PONG')
})

test('mutual TLS: a client certificate in the tls option; without one, or of another CA, startup fails at once', async (t) => {
  const server = await startRedis(t, { tls: 'mutual' })
  const { caPem: ca, client } = server.certs!

  const app = newApp(t)
  await app.register(fastifyRedis, { url: `rediss://localhost:${server.port}/2`, tls: { ca, ...client } })
  t.equal(await ping(app), 'PONG', 'the client certificate is presented')
  t.match(await server.clients(), [{ db: '2' }])
  await app.close()

  const other = makeCerts(mkdtempSync(join(tmpdir(), 'fnr-other-ca-')), true)
  t.teardown(() => rmSync(dirname(other.ca), { recursive: true, force: true }))
  const hint = '; the server ended the TLS connection: if it requires client certificates, set tls.cert and tls.key to one signed by a CA it trusts'
  // With TLS 1.3 the client learns of the refusal after its side of the
  // handshake: as the server's alert, or as a reset or a broken pipe when it
  // writes first (then the message is the socket's).
  const cases: Array<[string, FastifyNodeRedisOptions['tls'], RegExp]> = [
    ['no client certificate', { ca }, /tlsv13 alert certificate required/],
    ['a client certificate of another CA', { ca, ...other.client }, /tlsv1 alert unknown ca/],
    ['TLS 1.2, no client certificate', { ca, maxVersion: 'TLSv1.2' }, /(sslv3|ssl\/tls) alert handshake failure/],
    ['TLS 1.2, a client certificate of another CA', { ca, maxVersion: 'TLSv1.2', ...other.client }, /tlsv1 alert unknown ca/]
  ]
  for (const [name, tls, reason] of cases) {
    const { err, ms } = await failure(t, { url: `rediss://localhost:${server.port}`, tls })
    t.ok(ms < FAST, `${name}: failed in ${ms} ms, well under connectTimeout (${CONNECT_TIMEOUT} ms)`)
    const prefix = `fastify-node-redis: connection "redis" to rediss://localhost:${server.port}/0 failed at startup: `
    t.ok(err.message.startsWith(prefix) && err.message.endsWith(hint), `${name}: the message says what to do`)
    const why = err.message.slice(prefix.length, -hint.length)
    if (['ECONNRESET', 'EPIPE'].includes(err.cause?.code)) t.equal(why, err.cause.message, `${name}: ${err.message}`)
    else t.match(why, new RegExp(`^${reason.source}$`), `${name}: ${err.message}`)
    t.ok(err.cause instanceof Error, `${name}: the cause is kept`)
  }
  t.same(await server.clients(), [], 'nothing stays connected')
})

test('a plain connection to a TLS-only port fails fast', async (t) => {
  const server = await startRedis(t, { tls: true })
  const { err, ms } = await failure(t, { url: `redis://localhost:${server.port}` })
  t.ok(ms < FAST, `failed in ${ms} ms`)
  t.match(err.message, /^fastify-node-redis: connection "redis" to redis:\/\/localhost:\d+\/0 failed at startup: /)
})

test('a TLS connection to a plain port fails within connectTimeout, saying the handshake never completed', async (t) => {
  const server = await startRedis(t)
  const { err, ms } = await failure(t, { url: `rediss://localhost:${server.port}`, connectTimeout: 500 })
  t.ok(ms >= 490 && ms < FAST, `failed after ${ms} ms`)
  t.equal(err.message, `fastify-node-redis: connection "redis" to rediss://localhost:${server.port}/0 failed at startup: ` +
    'no answer within 500 ms (connectTimeout); the TLS handshake never completed: is the server at this address serving TLS?')
  t.same(await server.clients(), [], 'nothing stays connected')
})

test('TLS requested together with a redis:// or unix:// URL is a configuration error', async (t) => {
  for (const [url, options] of [
    ['redis://localhost:6390', { tls: true }],
    ['redis://localhost:6390', { tls: { ca: 'x' } }],
    ['unix:///tmp/redis.sock', { tls: true }],
    ['redis://localhost:6390', { config: { REDIS_TLS: 'true' } }]
  ] as Array<[string, FastifyNodeRedisOptions]>) {
    const app = newApp(t)
    app.register(fastifyRedis, { url, ...options })
    await t.rejects(async () => await app.ready(), { code: 'FST_REDIS_CONFIG', message: /TLS is also requested: use a rediss:\/\/ URL, or drop the tls option/ }, url)
  }
})

test('where to connect cannot be overridden from inside the tls option', async (t) => {
  const port = await freePort()
  for (const key of ['host', 'port', 'path', 'socket']) {
    const app = newApp(t)
    app.register(fastifyRedis, { host: '127.0.0.1', port, connectTimeout: 500, tls: { ca: 'x', [key]: key === 'port' ? port : 'x' } })
    await t.rejects(async () => await app.ready(), { code: 'FST_REDIS_CONFIG', message: new RegExp(`option "tls.${key}" is not accepted`) }, key)
  }
})
