// Compile-only tests of the Sentinel types (node-redis 5 and 6).
import Fastify from 'fastify'
import fastifyRedis, { type RedisClient, type RedisSentinel } from 'fastify-node-redis'
import { scripts } from './scripts.types'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    ha: RedisSentinel
    haScripted: RedisSentinel<{}, {}, typeof scripts>
  }
}

export async function sentinel (): Promise<number> {
  const app = Fastify()
  await app.register(fastifyRedis, {
    prefix: 'HA',
    sentinelNodes: ['redis://10.0.0.1:26379', 'redis://10.0.0.2'],
    sentinelName: 'mymaster',
    sentinelPassword: 'sentinel-secret',
    db: 2,
    sentinelOptions: { masterPoolSize: 2, replicaPoolSize: 1, scanInterval: 10000, nodeClientOptions: { name: 'app' } }
  })
  await app.register(fastifyRedis, { prefix: 'HASCRIPTED', sentinelNodes: 'redis://h:1,redis://h:2', sentinelName: 'm', sentinelOptions: { scripts } })
  const value: string | null = await app.redis.ha.get('k')
  const bumped: number = await app.redis.haScripted.bump('k', 2)
  const master = app.redis.ha.getMasterNode()
  use(value, master)
  // @ts-expect-error a Sentinel client is not a single client
  const single: RedisClient = app.redis.ha
  // @ts-expect-error a misspelt command does not compile
  use(app.redis.ha.icnr, single)
  // @ts-expect-error the script takes a number
  await app.redis.haScripted.bump('k', 'two')
  // @ts-expect-error sentinelNodes are URLs, not objects
  await app.register(fastifyRedis, { sentinelNodes: [{ host: 'h', port: 26379 }], sentinelName: 'm' })
  // @ts-expect-error masterPoolSize is a number
  await app.register(fastifyRedis, { sentinelNodes: 'redis://h', sentinelName: 'm', sentinelOptions: { masterPoolSize: 'two' } })
  return bumped
}

function use (..._values: unknown[]): void {}
