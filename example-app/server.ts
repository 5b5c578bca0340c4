// Runs the example app: `npm run example`. Configuration comes from the
// environment; see the README ("Example app") for the keys.
import { build } from './app'
import { configOf } from './config'

const HOW_TO_START_REDIS = 'is Redis running? Start one with `redis-server` ' +
  '(or `docker run -d -p 6379:6379 redis:7`), or point REDIS_URL / SESSIONS_URL at yours'

/** One line that says why the app could not start, and what to do about it. */
function whyNotStarted (err: Error & { code?: string }): string {
  const hint = err.code === 'FST_REDIS_CONNECT' ? `; ${HOW_TO_START_REDIS}` : ''
  return `example-app: cannot start: ${err.message.replace(/\s+/g, ' ')}${hint}`
}

async function main (): Promise<void> {
  const app = build({ logger: true })
  try {
    await app.ready()
    const { HOST, PORT } = configOf(app)
    await app.listen({ host: HOST, port: PORT })
  } catch (err) {
    console.error(whyNotStarted(err as Error))
    process.exitCode = 1
    // Closes whatever did start; after that nothing is left running, and
    // the process exits by itself.
    await app.close()
    return
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, async () => {
      app.log.info(`${signal}: closing`)
      await app.close()
    })
  }
}

main()
