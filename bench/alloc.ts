// Does reading `this.redis.<name>` in a handler allocate? Forked with
// --expose-gc by index.ts. Method: capture the real `this` of two route
// handlers (the root context, and a route three encapsulated contexts deep,
// which sees the connection through the registry's prototype chain), then
// read `.redis.bench` from them in a tight loop after warming it up (so the
// JIT has compiled it), between two `heapUsed` readings taken with a
// PerformanceObserver counting garbage collections. With no GC during the
// loop, the heap delta divided by the number of reads is what one read
// allocates; any allocation at all (16 bytes at least) would show as MBs over
// 10M reads, or trigger a GC. A control loop that reads a getter returning a
// fresh wrapper object checks that the method does see allocations.
import { PerformanceObserver } from 'node:perf_hooks'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRedis from 'fastify-node-redis'
import type { AllocSample } from './common'

let sink: unknown

/** Alternating between two contexts keeps the JIT from hoisting the read out of the loop. */
function readRegistry (contexts: FastifyInstance[], n: number): void {
  for (let i = 0; i < n; i++) sink = contexts[i & 1].redis.bench
}

function readGetter (objects: Array<{ readonly bench: unknown }>, n: number): void {
  for (let i = 0; i < n; i++) sink = objects[i & 1].bench
}

async function tick (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}

async function measure (label: string, loop: (n: number) => void, n: number): Promise<AllocSample> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  for (let i = 0; i < 20; i++) loop(100_000)
  gc()
  gc()
  let gcs = 0
  const observer = new PerformanceObserver((list) => { gcs += list.getEntries().length })
  observer.observe({ entryTypes: ['gc'] })
  await tick()
  const before = process.memoryUsage().heapUsed
  loop(n)
  const after = process.memoryUsage().heapUsed
  await tick()
  await tick()
  observer.disconnect()
  return { label, reads: n, bytesPerRead: (after - before) / n, gcs }
}

async function main (): Promise<void> {
  const url = process.env.BENCH_REDIS_URL
  if (url === undefined) throw new Error('usage: forked by bench/index.ts with BENCH_REDIS_URL')
  const app = Fastify()
  await app.register(fastifyRedis, { prefix: 'BENCH', url })
  const contexts: FastifyInstance[] = []
  app.get('/root', async function () { contexts[0] = this; return 'ok' })
  app.register(async (a) => {
    a.register(async (b) => {
      b.register(async (c) => {
        c.get('/deep', async function () { contexts[1] = this; return 'ok' })
      })
    })
  })
  await app.inject('/root')
  await app.inject('/deep')
  if (contexts.some((ctx) => ctx.redis.bench === undefined) || contexts[0] === contexts[1]) {
    throw new Error('the handlers did not see the connection')
  }

  const wrappers = contexts.map((ctx) => ({ get bench () { return { client: ctx.redis.bench } } }))
  const samples = [
    await measure('this.redis.bench (10M reads)', (n) => readRegistry(contexts, n), 10_000_000),
    await measure('control: getter returning { client } (100k reads)', (n) => readGetter(wrappers, n), 100_000)
  ]
  if (sink === undefined) throw new Error('unreachable: keeps the reads alive')
  await app.close()
  process.send?.(samples)
  process.disconnect?.()
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
