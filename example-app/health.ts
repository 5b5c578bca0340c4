import type { FastifyPluginAsync } from 'fastify'
import { redisHealth } from 'fastify-node-redis'

export interface HealthOptions {
  /** Milliseconds each connection's PING may take. */
  timeout: number
}

/**
 * `GET /health`, for a load balancer or an orchestrator's readiness probe:
 * 200 when every Redis connection answers a PING in time, 503 with the names
 * of those that do not. Each PING has a deadline, so a paused Redis cannot
 * hang the probe.
 */
export const health: FastifyPluginAsync<HealthOptions> = async function health (app, { timeout }) {
  app.get('/health', async function (_request, reply) {
    // `app` is this plugin's context: it sees the connections registered at
    // the root (REDIS and SESSIONS).
    const verdict = await redisHealth(app, { timeout })
    // A verdict is only true now: no cache in between may keep it.
    reply.header('cache-control', 'no-store')
    if (!verdict.ok) reply.code(503).header('retry-after', '1')
    return verdict
  })
}
