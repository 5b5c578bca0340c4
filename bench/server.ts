// One server under test, in its own process (see index.ts for why): builds
// the setup named in argv, listens on a free loopback port, tells the parent
// which one, and closes when the parent says so or goes away.
import type { FastifyInstance } from 'fastify'
import { type ServerMessage, type SetupId, SETUPS } from './common'
import { buildSetup } from './setups'

function send (message: ServerMessage): void {
  process.send?.(message)
}

async function main (): Promise<void> {
  const id = process.argv[2] as SetupId
  const url = process.env.BENCH_REDIS_URL
  if (!SETUPS.some((s) => s.id === id) || url === undefined) {
    throw new Error('usage: forked by bench/index.ts with a setup id and BENCH_REDIS_URL')
  }
  const built = await buildSetup(id, url)
  if (typeof built === 'string') {
    send({ type: 'skip', reason: built })
    process.disconnect?.()
    return
  }
  const app: FastifyInstance = built
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')

  let closing = false
  const close = async (): Promise<void> => {
    if (closing) return
    closing = true
    await app.close()
    // process.exit() (not a SIGTERM from the parent) lets --cpu-prof write its profile.
    process.exit(0)
  }
  process.on('message', (message) => {
    if (message === 'close') close().catch(fail)
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage()
      send({ type: 'cpu', micros: user + system })
    }
  })
  process.on('disconnect', () => { close().catch(fail) })
  send({ type: 'listening', port: address.port })
}

function fail (err: unknown): void {
  send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) })
  process.exit(1)
}

main().catch(fail)
