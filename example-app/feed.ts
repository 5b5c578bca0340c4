import type { FastifyReply } from 'fastify'
import type { RedisSubscriber } from 'fastify-node-redis'
import { within } from './errors'

/** The Redis channel the PUTs to a thing's path are published on. */
export function channelOf (path: string): string {
  return `things:${path}`
}

/** A comment line every so often keeps proxies from closing an idle stream. */
export const HEARTBEAT_MS = 15_000

/** The live feed's streams over one subscriber connection. */
export interface Feed {
  /** Answers the request with the stream of PUTs to `path`; a 503 if Redis cannot subscribe. */
  stream (path: string, reply: FastifyReply): Promise<void>
  /** Ends every open stream (an open stream would keep the server from closing). */
  end (): void
}

/**
 * The PUTs to a path as they happen, as server-sent events (`event: put`,
 * `data: <the thing as JSON>`). The PUT route publishes inside its MULTI, so
 * an event means the thing was stored. One subscriber connection serves
 * every stream; node-redis sends SUBSCRIBE for the first listener of a
 * channel and UNSUBSCRIBE after the last. Redis pub/sub delivers at most
 * once: a PUT made while Redis or the subscriber is down is not sent (read
 * the thing itself to catch up).
 */
export function createFeed (events: RedisSubscriber, timeout: number): Feed {
  const streams = new Set<FastifyReply>()
  return {
    async stream (path, reply) {
      const channel = channelOf(path)
      const listener = (message: string): void => { reply.raw.write(`event: put\ndata: ${message}\n\n`) }
      // Before the response starts: a SUBSCRIBE that fails is still a 503.
      await within(events.subscribe(channel, listener), timeout)
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
      reply.raw.write(': subscribed\n\n')
      streams.add(reply)
      const heartbeat = setInterval(() => reply.raw.write(': heartbeat\n\n'), HEARTBEAT_MS).unref()
      reply.raw.on('close', () => {
        clearInterval(heartbeat)
        streams.delete(reply)
        // Nobody to answer any more: a failure only means the subscriber is down, and it holds nothing then.
        events.unsubscribe(channel, listener).catch(() => {})
      })
    },
    end () {
      for (const reply of streams) reply.raw.end()
    }
  }
}
