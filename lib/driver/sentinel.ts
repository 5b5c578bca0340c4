import * as redis from 'redis'
import { noop, type Driver, type Emitter, type Event } from './driver'
import type { KillSwitch } from './kill-switch'

/** The part of a node-redis Sentinel client (5 and later) the driver relies on. */
export interface NodeRedisSentinel extends Emitter {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect (): Promise<unknown>
  ping (): Promise<unknown>
  destroy (): unknown
  /** The master a ready connection serves, undefined while none is. */
  getMasterNode (): unknown
  getSentinelNode (): unknown
  /** Each replica with its number of ready connections. */
  getReplicaNodes (): Map<unknown, number>
}

/** node-redis's `createSentinel` (5 and later; undefined on 4, where resolution refuses Sentinel first). */
export const createSentinel = (redis as unknown as { createSentinel?: (options: object) => unknown }).createSentinel

/** Whether a built object is a Sentinel client: only it says which master it uses. */
export function isSentinel (built: object): built is NodeRedisSentinel {
  return typeof (built as Partial<NodeRedisSentinel>).getMasterNode === 'function'
}

/* c8 ignore start -- node-redis 5 and later only: on 4, Sentinel is refused before a driver is built (.ci/run runs the suite on each major) */
type Execute = (this: unknown, isReadonly: boolean | undefined, fn: unknown) => Promise<unknown>

/** The instance behind node-redis's `Object.create()` wrappers, whose `_execute(isReadonly, fn)` every command, MULTI and pipeline goes through. */
function executorOf (sentinel: NodeRedisSentinel): Record<'_execute', Execute> {
  return (sentinel as unknown as { _self: Record<'_execute', Execute> })._self
}

/**
 * Adapts a node-redis Sentinel client to the connection lifecycle. While
 * its master is down, node-redis makes every command wait (it rediscovers
 * the topology up to `maxCommandRediscovers` times, a second apart) until a
 * replica has been promoted; here they fail at once instead, as for a single
 * connection, and succeed again once the new master is connected.
 */
export class SentinelDriver implements Driver {
  /** Listeners as given → as registered (node-redis also emits strings as errors). */
  private readonly listeners = new Map<(...args: any[]) => void, (...args: any[]) => void>()
  /** Since when the master has been down (0: it is up), and when sockets were last cut. */
  private downSince = 0
  private lastCut = 0
  private connecting: Promise<unknown> | undefined
  /** A PING past the fail-fast check: while no master is connected, it makes node-redis rediscover one. */
  private rediscover: (() => Promise<unknown>) | undefined
  private rediscovering = false
  /** connect() was called (by startup, or in the background with lazyConnect); close() was. */
  private started = false
  private closed = false

  /**
   * `kill`: the switch its sockets were given, when the plugin built it (and
   * may make its commands fail fast). `stall`: ms without a master after which
   * every socket is cut, so that a connection stuck on a paused node starts over.
   */
  constructor (readonly sentinel: NodeRedisSentinel, private readonly kill: KillSwitch | undefined, private readonly stall: number) {
    if (kill !== undefined) this.failFast()
  }

  /**
   * Every command, MULTI and pipeline of a Sentinel client goes through its
   * `_execute(isReadonly, fn)` (on the instance behind node-redis's
   * `Object.create()` wrappers): it rejects at once while no master (nor,
   * for a read-only command, a replica) is connected.
   */
  private failFast (): void {
    const target = executorOf(this.sentinel)
    const execute = target._execute
    this.rediscover = async () => await execute.call(target, false, async (client: { ping: () => Promise<unknown> }) => await client.ping())
    const up = (isReadonly: boolean | undefined): boolean => this.isReady || (isReadonly === true && [...this.sentinel.getReplicaNodes().values()].some((n) => n > 0))
    target._execute = async function (this: unknown, isReadonly, fn) {
      if (!up(isReadonly)) throw new redis.ClientOfflineError()
      // A command whose connection drops under it fails then, as on a single
      // connection, instead of waiting for node-redis to rediscover the
      // master and send it again (which may also run it twice).
      return await new Promise((resolve, reject) => {
        let sent = false
        const once = async (client: { readonly isReady: boolean }): Promise<unknown> => {
          if (sent) throw new redis.ClientOfflineError()
          sent = true
          const answer = (fn as (client: unknown) => Promise<unknown>)(client)
          answer.catch((err: unknown) => { if (!client.isReady) reject(err) })
          return await answer
        }
        execute.call(this, isReadonly, once).then(resolve, reject)
      })
    }
  }

  get isOpen (): boolean { return this.sentinel.isOpen }
  /** A master connection is ready (node-redis's own isReady stays true while its master is dead). */
  get isReady (): boolean { return this.sentinel.isReady && this.sentinel.getMasterNode() !== undefined }

  async connect (): Promise<unknown> {
    this.started = true
    const connecting = this.sentinel.connect()
    this.connecting = connecting
    try {
      return await connecting
    } catch (err) {
      // node-redis 5 stays "open" after a connect() that gave up: close it, so that maintain() tries again.
      await Promise.resolve(this.sentinel.destroy()).catch(noop)
      throw err
    } finally {
      this.connecting = undefined
    }
  }

  async ping (): Promise<unknown> { return await this.sentinel.ping() }
  async drain (): Promise<unknown> { return await this.ping() }
  describe (): string {
    const master = this.sentinel.getMasterNode() as { host: string, port: number }
    return ` (master ${master.host}:${master.port})`
  }

  on (event: Event, listener: (...args: any[]) => void): void {
    const registered = event === 'error'
      ? (err: unknown) => listener(err instanceof Error ? err : new Error(String(err)))
      : listener
    this.listeners.set(listener, registered)
    this.sentinel.on(event, registered)
  }

  off (event: Event, listener: (...args: any[]) => void): void {
    this.sentinel.off(event, this.listeners.get(listener) ?? listener)
    this.listeners.delete(listener)
  }

  /**
   * A connect() still under way (startup gave up) is not waited for: node-redis's
   * destroy() waits for its rediscovery loop to notice, after a retry pause of
   * 1 s, and with every socket torn down that loop ends by itself.
   */
  async close (): Promise<void> {
    this.closed = true
    this.kill?.abort()
    // Put in at close, nothing on the command path before: as on a closed client (node-redis would say offline).
    if (this.kill !== undefined) executorOf(this.sentinel)._execute = async () => { throw new redis.ClientClosedError() }
    const destroyed = Promise.resolve(this.sentinel.destroy()).catch(noop)
    if (this.connecting === undefined) await destroyed
  }

  /** Cuts every socket: waiting commands reject, and node-redis rediscovers the master and reconnects. */
  async reopen (): Promise<void> {
    this.lastCut = Date.now()
    this.kill?.cut()
  }

  /**
   * After a connect() that gave up: connect again. While no master is
   * connected: have node-redis rediscover one (its node
   * connections do not reconnect by themselves, and the commands that would
   * make it rediscover fail fast here); a master still missing after
   * `stall` ms (a paused node, a connection stuck in its handshake): cut
   * every socket, so that the rediscovery starts over.
   */
  maintain (): void {
    if (!this.sentinel.isOpen && this.started && !this.closed && this.connecting === undefined) {
      // A connect() that gave up (lazyConnect, every sentinel down for long): try again.
      this.connect().catch(noop)
    }
    if (this.isReady || !this.sentinel.isOpen) {
      this.downSince = 0
      return
    }
    const now = Date.now()
    if (this.downSince === 0) this.downSince = now
    if (!this.rediscovering && this.rediscover !== undefined) {
      this.rediscovering = true
      this.rediscover().catch(noop).finally(() => { this.rediscovering = false })
    }
    if (this.stall > 0 && now - this.downSince >= this.stall && now - this.lastCut >= this.stall) this.reopen().catch(noop)
  }
}
/* c8 ignore stop */
