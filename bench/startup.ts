// Startup/close/memory samples, in a fresh process started with
// --expose-gc (see index.ts), after a warmup, repeated in the process: `empty` (Fastify alone), `plugin` (N named
// connections C0..C<N-1>) or `hand` (N node-redis clients, connect() + PING,
// no Fastify). Connections are opened one after another, as Fastify registers
// plugins one after another, so the hand-wired time is N connect round trips.
import { performance } from 'node:perf_hooks'
import Fastify from 'fastify'
import fastifyRedis from 'fastify-node-redis'
import { createClient } from 'redis'
import type { StartupSample } from './common'

type Kind = StartupSample['kind']

/**
 * A full GC once closed sockets have been released: their handles go away a
 * few ticks after close() resolves, and would otherwise count as held.
 */
async function settle (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  await new Promise((resolve) => setTimeout(resolve, 50))
  // Twice: the first pass can leave finalizable objects for the second.
  gc()
  gc()
}

interface Opened { close (): Promise<void>, check (): void }

async function open (kind: Kind, n: number, url: string): Promise<Opened> {
  if (kind === 'hand') {
    const connect = () => createClient({ url })
    const clients: Array<ReturnType<typeof connect>> = []
    for (let i = 0; i < n; i++) {
      const client = connect()
      client.on('error', () => {})
      await client.connect()
      await client.ping()
      clients.push(client)
    }
    return {
      async close () { for (const client of clients) await client.quit() },
      check () { if (!clients.every((c) => c.isReady)) throw new Error('a hand-wired client is not ready') }
    }
  }
  const app = Fastify()
  if (kind === 'plugin') {
    for (let i = 0; i < n; i++) app.register(fastifyRedis, { prefix: `C${i}`, url })
  }
  await app.ready()
  return {
    async close () { await app.close() },
    check () {
      if (kind !== 'plugin') return
      const registry = app.redis as unknown as Record<string, { isReady: boolean } | undefined>
      for (let i = 0; i < n; i++) {
        if (registry[`c${i}`]?.isReady !== true) throw new Error(`app.redis.c${i} is not ready`)
      }
    }
  }
}

async function main (): Promise<void> {
  const kind = process.argv[2] as Kind
  const n = Number(process.argv[3])
  const repeats = Number(process.argv[4] ?? 5)
  const url = process.env.BENCH_REDIS_URL
  if (!['empty', 'plugin', 'hand'].includes(kind) || !(n >= 0) || !(repeats >= 1) || url === undefined) {
    throw new Error('usage: forked by bench/index.ts with <empty|plugin|hand> <connections> <repeats> and BENCH_REDIS_URL')
  }
  // Load and compile every code path once, so the samples measure the work of
  // opening connections, not the first require() and the first JIT.
  for (let i = 0; i < 3; i++) await (await open(kind, Math.min(n, 2), url)).close()

  // Memory is read on the first sample only: RSS does not shrink when a
  // closed connection is freed, so later samples would see its pages reused.
  const samples: StartupSample[] = []
  for (let i = 0; i < repeats; i++) {
    await settle()
    const before = process.memoryUsage()

    const t0 = performance.now()
    const opened = await open(kind, n, url)
    const startMs = performance.now() - t0
    opened.check()

    if (i === 0) await settle()
    const after = process.memoryUsage()

    const t1 = performance.now()
    await opened.close()
    const closeMs = performance.now() - t1

    samples.push({
      kind,
      connections: n,
      startMs,
      closeMs,
      ...(i === 0 && { rssBytes: after.rss - before.rss, heapBytes: after.heapUsed - before.heapUsed })
    })
  }
  process.send?.(samples)
  process.disconnect?.()
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
