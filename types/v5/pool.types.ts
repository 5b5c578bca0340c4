// Compile-only tests of client pools (node-redis 5 and 6): the RedisClientPool
// alias, execute(), the pool option. Run by types/check.js when 5 or 6 is installed.
import Fastify from 'fastify'
import fastifyRedis, { type RedisClient, type RedisClientPool } from 'fastify-node-redis'
import { scripts } from './scripts.types'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    v5Jobs: RedisClientPool
    v5ScriptedJobs: RedisClientPool<{}, {}, typeof scripts>
  }
}

export async function pools (): Promise<number> {
  const app = Fastify()
  await app.register(fastifyRedis, { prefix: 'V5JOBS', pool: true })
  await app.register(fastifyRedis, { prefix: 'V5SCRIPTED_JOBS', pool: { minimum: 2, maximum: 10, acquireTimeout: 1000, cleanupDelay: '3000' }, clientOptions: { scripts } })
  const jobs = app.redis.v5Jobs
  const value: string | null = await jobs.get('k')
  // @ts-expect-error GET answers a string or null: the pool is typed, not any
  const wrong: number = await jobs.get('k')
  const popped = await jobs.blPop('queue', 0)
  const element: string | undefined = popped?.element
  const watched = await jobs.execute(async (client) => {
    await client.watch('k')
    return await client.multi().incr('k').exec()
  })
  const bumped: number = await app.redis.v5ScriptedJobs.bump('k', 2)
  // @ts-expect-error a pool lends connections with execute(): it has no executeIsolated (node-redis 4's)
  use(jobs.executeIsolated)
  // @ts-expect-error a pool is not a single client
  const client: RedisClient = jobs
  // @ts-expect-error the pool's sizes are numbers
  await app.register(fastifyRedis, { pool: { maximum: 'ten' } })
  // @ts-expect-error the pool takes minimum, maximum, acquireTimeout and cleanupDelay
  await app.register(fastifyRedis, { pool: { max: 10 } })
  use(value, wrong, element, watched, client)
  return bumped
}

function use (..._values: unknown[]): void {}
