import { once } from 'node:events'
import { inspect } from 'node:util'
import fastifyEnv from '@fastify/env'
import Fastify, { type FastifyInstance } from 'fastify'
import { test } from 'tap'
import fastifyRedis, { redisEnvSchema, type FastifyNodeRedisOptions } from 'fastify-node-redis'
import { startupError } from './helpers/app'
import { guardedLogger, secret } from './helpers/secret-guard'
import { startRedis, type RedisServer } from './helpers/redis'

type Tap = Parameters<Parameters<typeof test>[0]>[0]

// Every character a URL treats specially, so the percent-encoded form differs.
// Every password is registered with the suite's secret guard, which searches
// all log lines and errors too; this file also checks its own runs here.
const PASSWORD = secret('Pa:ss@w/rd%#?&=+!')
const ENCODED = encodeURIComponent(PASSWORD)
const ADMIN_PASSWORD = secret('adm1n:S3cret@')
const WRONG = secret('wrong-Pa55word')
const WRONG_ENCODED = encodeURIComponent(secret('wr@ng-Pa55'))
const UNENCODED = ['pa/ss-Word9', 'pa#ss-Word9', 'pa@ss-Word9'].map(secret)
const SECRETS = [PASSWORD, ENCODED, ADMIN_PASSWORD, encodeURIComponent(ADMIN_PASSWORD), WRONG, WRONG_ENCODED]
const FAST = 1500

/** Every log line written and every error thrown by the runs of this file. */
const lines: string[] = []
const errors: unknown[] = []

function newApp (t: Tap): FastifyInstance {
  const app = Fastify({ logger: guardedLogger('trace', (line) => { lines.push(line) }) })
  t.teardown(() => app.close())
  return app
}

/** Registers one connection and expects startup to fail with `code`. */
async function fails (t: Tap, options: FastifyNodeRedisOptions, code: string, message: RegExp, seen = errors): Promise<any> {
  const { err, ms } = await startupError(newApp(t), { connectTimeout: 5000, ...options })
  if (err !== undefined) seen.push(err)
  t.match(err, { code, message }, 'startup fails')
  if (code === 'FST_REDIS_CONNECT') t.ok(ms < FAST, `failed at once (${ms} ms), not after connectTimeout`)
  return err
}

async function whoAmI (server: RedisServer): Promise<Array<{ user: string, db: string }>> {
  return (await server.clients()).map(({ user, db }) => ({ user, db }))
}

/** Registers one connection with `options` and checks who it is logged in as, and in which db. */
async function connectsAs (t: Tap, server: RedisServer, options: FastifyNodeRedisOptions, user: string, db: string): Promise<void> {
  const app = newApp(t)
  await app.register(fastifyRedis, options)
  await app.ready()
  t.same(await whoAmI(server), [{ user, db }])
  await app.close()
}

test('ACL users and passwords, and no secret in any log line or error', async (t) => {
  const server = await startRedis(t, { password: ADMIN_PASSWORD, users: [{ name: 'app', password: PASSWORD }] })
  const host = '127.0.0.1'
  const { port } = server

  await t.test('username and password in the URL, percent-encoded', async (t) => {
    await connectsAs(t, server, { url: `redis://app:${ENCODED}@${host}:${port}/2` }, 'app', '2')
  })

  await t.test('username and password through PREFIX_USERNAME / PREFIX_PASSWORD from @fastify/env', async (t) => {
    const app = newApp(t)
    await app.register(fastifyEnv, {
      schema: redisEnvSchema('CACHE'),
      env: false,
      data: { CACHE_HOST: host, CACHE_PORT: String(port), CACHE_USERNAME: 'app', CACHE_PASSWORD: PASSWORD, CACHE_DB: '3' }
    })
    await app.register(fastifyRedis, { prefix: 'CACHE' })
    await app.ready()
    t.same(await whoAmI(server), [{ user: 'app', db: '3' }])
    await app.close()
  })

  await t.test('username and password as options', async (t) => {
    await connectsAs(t, server, { host, port, username: 'app', password: PASSWORD }, 'app', '0')
  })

  await t.test('a password alone authenticates the default user', async (t) => {
    await connectsAs(t, server, { url: `redis://:${encodeURIComponent(ADMIN_PASSWORD)}@${host}:${port}` }, 'default', '0')
  })

  await t.test('the URL\'s credentials replace those of the keys', async (t) => {
    await connectsAs(t, server, {
      config: { REDIS_URL: `redis://app:${ENCODED}@${host}:${port}/1`, REDIS_USERNAME: 'default', REDIS_PASSWORD: WRONG }
    }, 'app', '1')
  })

  await t.test('wrong credentials fail startup at once with WRONGPASS as the cause', async (t) => {
    const wrongpass = /^fastify-node-redis: connection "(redis|cache)" to redis:\/\/[^ ]*:\*\*\*@127\.0\.0\.1:\d+\/\d+ failed at startup: WRONGPASS invalid username-password pair or user is disabled\.$/
    const cases: FastifyNodeRedisOptions[] = [
      { url: `redis://app:${WRONG_ENCODED}@${host}:${port}` },
      { url: `redis://nobody:${ENCODED}@${host}:${port}` },
      { host, port, username: 'app', password: WRONG },
      { prefix: 'CACHE', config: { CACHE_HOST: host, CACHE_PORT: String(port), CACHE_USERNAME: 'app', CACHE_PASSWORD: WRONG } },
      { host, port, password: PASSWORD } // the app user's password for the default user
    ]
    for (const options of cases) {
      const err = await fails(t, options, 'FST_REDIS_CONNECT', wrongpass)
      t.match(err.cause, { message: /^WRONGPASS/ }, 'the cause is kept')
    }
  })

  await t.test('no credentials at all: NOAUTH', async (t) => {
    await fails(t, { host, port }, 'FST_REDIS_CONNECT', /failed at startup: NOAUTH (Authentication required\.|HELLO must be called with the client already authenticated)/)
  })

  await t.test('invalid configuration around a password never shows it', async (t) => {
    await fails(t, { url: `redis://app:${ENCODED}@${host}:99999` }, 'FST_REDIS_CONFIG',
      /option "url" redis:\/\/app:\*\*\*@127\.0\.0\.1:99999 is not a valid Redis URL: its port 99999 is out of range/)
    await fails(t, { url: `redis://app:${ENCODED}@${host}:${port}/x` }, 'FST_REDIS_CONFIG', /redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/x is not a valid/)
    await fails(t, { url: `redis://app:${ENCODED}@${host}:${port}/1?db=2` }, 'FST_REDIS_CONFIG',
      /redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/1\?db=2 is not a valid Redis URL: it names two databases/)
    await fails(t, { url: `http://app:${ENCODED}@${host}` }, 'FST_REDIS_CONFIG', /scheme "http:" is not supported/)
    await fails(t, { config: { REDIS_PASSWORD: 12345 } }, 'FST_REDIS_CONFIG', /config key REDIS_PASSWORD must be a string, got \(value hidden\)/)
  })

  await t.test('log lines of a connection that cannot authenticate in the background, or that is lost', async (t) => {
    const app = newApp(t)
    const logged = lines.length
    await app.register(fastifyRedis, { url: `redis://app:${WRONG_ENCODED}@${host}:${port}`, lazyConnect: true })
    await app.register(fastifyRedis, { prefix: 'CACHE', url: `redis://app:${ENCODED}@${host}:${port}/4` })
    await app.ready()
    for (let i = 0; i < 100 && !lines.slice(logged).some((l) => l.includes('WRONGPASS')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    t.ok(lines.slice(logged).some((l) => /"redis":"redis".*cannot connect yet \(WRONGPASS/.test(l)), 'the failure is logged')

    const cache = (app.redis as unknown as Record<string, { isReady: boolean, on (e: string, f: () => void): void }>).cache
    await server.kill()
    for (let i = 0; i < 100 && cache.isReady; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    await server.restart()
    if (!cache.isReady) await once(cache as any, 'ready')
    t.ok(lines.some((l) => /"redis":"cache".*lost/.test(l)), 'the outage is logged')
    await app.close()
  })

  await t.test('a URL whose password was not percent-encoded, or that carries it in the query', async (t) => {
    const seen: unknown[] = []
    for (const url of [
      `redis://app:${PASSWORD}@${host}:${port}`,
      ...UNENCODED.map((password) => `redis://app:${password}@${host}:${port}`),
      `redis://${host}:${port}/0?password=${ENCODED}`
    ]) {
      await fails(t, { url }, 'FST_REDIS_CONFIG', /is not a valid Redis URL/, seen)
    }
    for (const part of [PASSWORD, ENCODED, 'pa/ss', 'ss-Word9', 'w/rd%']) {
      t.notOk(seen.some((err) => inspect(err, { depth: Infinity }).includes(part)), `no error contains ${JSON.stringify(part)}`)
    }
  })

  t.ok(lines.length >= 5, `${lines.length} log lines captured`)
  t.ok(lines.some((l) => l.includes(`redis://app:***@127.0.0.1:${port}/2`)), 'log lines show the target, with the password masked')
  t.ok(errors.length >= 10, `${errors.length} errors captured`)
  for (const value of SECRETS) {
    t.notOk(lines.some((line) => line.includes(value)), `no log line contains ${JSON.stringify(value)}`)
    t.notOk(errors.some((err) => inspect(err, { depth: Infinity }).includes(value) || JSON.stringify(err).includes(value)),
      `no error (message, stack, properties, cause) contains ${JSON.stringify(value)}`)
  }
})
