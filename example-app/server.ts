// Runs the example app: `npm run example`. Configuration comes from the
// environment; see docs/example-app.md for the keys. With no REDIS_* or
// SESSIONS_* setting and nothing on localhost:6379, it starts a private
// redis-server for as long as it runs.
import type { FastifyInstance } from 'fastify'
import { build, CLOSE_BOUND_MS } from './app'
import { configOf } from './config'
import { answers, INSTALL_REDIS, redisConfigured, startPrivateRedis, type PrivateRedis } from './local-redis'

const HOW_TO_START_REDIS = 'is Redis running? Start one with `redis-server` ' +
  '(or `docker run -d -p 6379:6379 redis:7`), or point REDIS_URL / SESSIONS_URL at yours'

/** Causes of a failed start that mean "nothing reachable there", not "Redis said no". */
const UNREACHABLE = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b|no answer within/

/** One line that says why the app could not start, and what to do about it. */
function whyNotStarted (err: Error & { code?: string }): string {
  const hint = err.code === 'FST_REDIS_CONNECT' && UNREACHABLE.test(err.message) ? `; ${HOW_TO_START_REDIS}` : ''
  return `example-app: cannot start: ${err.message.replace(/\s+/g, ' ')}${hint}`
}

/** A private redis-server when nothing is configured and nothing answers on localhost:6379. */
async function localRedis (): Promise<PrivateRedis | undefined | 'missing'> {
  if (redisConfigured(process.env) || await answers('localhost', 6379)) return undefined
  return await startPrivateRedis() ?? 'missing'
}

function closeOnSignals (app: FastifyInstance): void {
  let closing = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, not `once`: a Ctrl-C in a terminal reaches node twice under npm
    // (from the terminal, and forwarded by npm); the second must not kill it.
    process.on(signal, () => {
      if (closing) return
      closing = true
      app.log.info(`${signal}: closing`)
      /* c8 ignore next 4: a safety net; the plugin bounds each connection's close by its closeTimeout, so no test can outlast it */
      setTimeout(() => {
        app.log.error(`not closed within ${CLOSE_BOUND_MS} ms: exiting anyway`)
        process.exit(1)
      }, CLOSE_BOUND_MS).unref()
      // A close that fails is an unhandled rejection: the process exits with it.
      app.close()
    })
  }
}

async function main (): Promise<void> {
  const redis = await localRedis()
  if (redis === 'missing') {
    console.error(`example-app: cannot start: nothing answers on localhost:6379 and redis-server is not installed: ${INSTALL_REDIS}`)
    process.exitCode = 1
    return
  }
  const app = build({
    logger: true,
    ...(redis !== undefined && { config: { REDIS_URL: `${redis.url}/0`, SESSIONS_URL: `${redis.url}/1` } })
  })
  if (redis !== undefined) {
    app.log.info(`no REDIS_* or SESSIONS_* setting and nothing on localhost:6379: started a private redis-server at ${redis.url} ` +
      `(data in ${redis.dir}, not saved; it stops with the app)`)
    app.addHook('onClose', async () => { await redis.stop() })
  }
  closeOnSignals(app)
  try {
    await app.ready()
    const { HOST, PORT } = configOf(app)
    await app.listen({ host: HOST, port: PORT })
  } catch (err) {
    console.error(whyNotStarted(err as Error))
    process.exitCode = 1
    // Closes whatever did start (the private redis-server too); after that
    // nothing is left running, and the process exits by itself.
    await app.close()
    await redis?.stop()
  }
}

main()
