import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as redis from 'redis'
import { FST_REDIS_CONFIG } from '../errors'
import type { ConnectionSpec } from '../options'
import { failFastWhileOffline, type NodeRedisClient } from './client'
import { destroy, noop, within, type Driver, type Emitter, type Event } from './driver'
import type { KillSwitch } from './kill-switch'

type Task = (client: NodeRedisClient) => unknown
type Strategy = (retries: number, cause: Error) => false | number

/** What a task lent a connection that is not ready rejects with, to be tried on another. */
const NOT_READY = Symbol('not ready')

/** How soon a pool connection told to stop reconnecting tries again (see PoolDriver.strategyOf). */
const RETRY_CLOSING = 50

/** The part of a node-redis 5+ `RedisClientPool` the driver relies on. */
export interface NodeRedisPool extends Emitter {
  /** The pool itself: `createClientPool` returns an `Object.create()` wrapper of it. */
  readonly _self: NodeRedisPool
  readonly isOpen: boolean
  readonly isClosing: boolean
  /** How many connections wait for a task. */
  readonly idleClients: number
  /** The timer of the next idle-connection cleanup. */
  cleanupTimeout?: NodeJS.Timeout
  connect (): Promise<unknown>
  /** Lends a connection to `fn` (waiting up to acquireTimeout for one), and takes it back once `fn` settles. */
  execute (fn: Task): Promise<unknown>
  close (): Promise<void>
  destroy (): void
}

/* c8 ignore start -- which of these runs depends on the installed major (4 has no createClientPool, 5 and 6 have); .ci/run runs the suite on each */
/** The installed node-redis version, from its package.json. */
function installedVersion (): string {
  return (JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8')) as { version: string }).version
}

/**
 * What builds a pool: node-redis's `createClientPool(clientOptions,
 * poolOptions)`, which 4 does not have. `where` names what asked for it.
 */
export function poolBuilder (name: string, where: string): (options: object, poolOptions?: object) => unknown {
  const create = (redis as Record<string, unknown>).createClientPool
  if (typeof create === 'function') return create as (options: object, poolOptions?: object) => unknown
  throw new FST_REDIS_CONFIG(`connection "${name}": ${where} needs redis 5 or later (${installedVersion()} is installed; on 4 use executeIsolated)`)
}
/* c8 ignore stop */

/* c8 ignore start -- node-redis 5 and later only (createClientPool; 4 refuses the option): test/pool.test.ts runs all of it on 5 and 6 (.ci/run) */
/**
 * Adapts a node-redis client pool to the connection lifecycle. The pool
 * shows neither its connections nor their state, and emits nothing but the
 * connections' errors: the driver meets each connection as the pool lends it
 * out (every command goes through `execute`), and lends out the idle ones
 * itself to see them (`adopt`). While the connections are down, commands
 * fail at once instead of the pool opening more connections that wait.
 *
 * A PING on a pool connection would wait behind a blocking command, and a
 * busy pool may have none idle: PINGs go through a connection of their own
 * (the probe), so a stalled server is found however busy the pool is, and a
 * BLPOP that blocks longer than commandTimeout is not taken for one.
 */
export class PoolDriver implements Driver {
  /** The pool's connections met so far (closed ones are dropped as they are found). */
  private readonly clients = new Set<NodeRedisClient>()
  /** node-redis's own execute(), bound to the pool. */
  private readonly lend: (fn: Task) => Promise<unknown>
  private readonly self: NodeRedisPool
  /** drain() or close() was called. */
  private closing = false

  /**
   * `probe`: a client of the same options, for PINGs. `kill`: the switch of
   * the sockets of both. `failFast`: commands, MULTI and pipelines fail at
   * once while offline.
   */
  constructor (
    readonly pool: NodeRedisPool,
    private readonly probe: NodeRedisClient,
    private readonly kill: KillSwitch,
    private readonly failFast: boolean,
    private readonly spec: NonNullable<ConnectionSpec['pool']>
  ) {
    // On the pool itself, not the wrapper: commands call this.execute() or
    // this._self.execute(), and withCommandOptions() makes further wrappers.
    const self = pool._self
    const execute = self.execute
    this.self = self
    this.lend = async (fn) => await execute.call(self, fn)
    const offline = (): Error => new redis.ClientOfflineError()
    Object.defineProperty(self, 'execute', {
      configurable: true,
      writable: true,
      value: async (fn: Task) => {
        if (failFast && (!this.probe.isReady || !this.anyReady())) throw offline()
        // With none idle, the pool would open a connection (or wait for one):
        // not while some of its connections are down.
        if (failFast && this.pool.idleClients === 0 && !this.isReady) throw offline()
        // A connection still reconnecting goes back to the pool untouched,
        // and the next idle one is tried, while one of those met is ready.
        for (let tries = this.clients.size; ; tries--) {
          try {
            return await this.lend((client) => {
              this.meet(client)
              return failFast && !client.isReady ? Promise.reject(NOT_READY) : fn(client)
            })
          } catch (err) {
            if (err !== NOT_READY) throw err
            if (tries <= 1 || this.pool.idleClients === 0 || !this.anyReady()) throw offline()
          }
        }
      }
    })
  }

  private readonly meet = (client: NodeRedisClient): void => {
    if (this.clients.has(client)) return
    this.clients.add(client)
    if (this.failFast) failFastWhileOffline(client)
  }

  /** Lends out every idle connection for no work, to meet it (synchronous: nothing is sent). */
  private adopt (): void {
    for (let n = this.pool.idleClients; n > 0; n--) this.lend(this.meet).catch(noop)
  }

  /** The connections met and still open. */
  private open (): NodeRedisClient[] {
    if (this.clients.size === 0) this.adopt()
    for (const client of this.clients) if (!client.isOpen) this.clients.delete(client)
    return [...this.clients]
  }

  private anyReady (): boolean {
    if (this.open().some((c) => c.isReady)) return true
    this.adopt()
    return this.open().some((c) => c.isReady)
  }

  get isOpen (): boolean { return this.pool.isOpen }
  /** The pool is open, its probe is ready and so is every connection of it met so far. */
  get isReady (): boolean {
    const open = this.open()
    return this.pool.isOpen && !this.pool.isClosing && this.probe.isReady && open.length > 0 && open.every((c) => c.isReady)
  }

  async connect (): Promise<unknown> { return await Promise.all([this.pool.connect(), this.probe.connect()]) }

  /**
   * The reconnect strategy of the pool's connections. node-redis 5 (before
   * 6.3) does not handle the rejection of the connect of a connection it
   * opens on demand (a crash): while closing, a connection told to give up
   * retries after RETRY_CLOSING ms instead, and stops once destroyed.
   */
  strategyOf (strategy: Strategy): Strategy {
    return (retries, cause) => {
      const next = strategy(retries, cause)
      return next === false && this.closing ? RETRY_CLOSING : next
    }
  }

  /** PING through the probe: answered when the server answers, however busy the pool is. */
  async ping (): Promise<unknown> { return await this.probe.ping() }
  describe (): string { return ` (a pool of ${this.spec.minimum} to ${this.spec.maximum} connections)` }
  maintain (): void { this.adopt() }

  // A pool emits its connections' errors and no "ready" or "connect": the probe's stand for them.
  on (event: Event, listener: (...args: any[]) => void): void {
    if (event === 'error') this.self.on(event, listener)
    this.probe.on(event, listener)
  }

  off (event: Event, listener: (...args: any[]) => void): void {
    if (event === 'error') this.self.off(event, listener)
    this.probe.off(event, listener)
  }

  /** Waits for the commands lent connections run, then closes each connection once answered. */
  async drain (): Promise<unknown> {
    this.closing = true
    return await this.pool.close()
  }

  async close (): Promise<void> {
    this.closing = true
    this.kill.abort()
    // Put in at close, nothing on the command path before: as on a closed client (node-redis would say offline).
    this.self.execute = async () => { throw new redis.ClientClosedError() }
    // A connection opened on demand may still come back to the pool after
    // this, and its idle-connection cleanup would keep the process alive for
    // cleanupDelay, then destroy() connections already closed (which throws
    // before 6.3, in a timer): no cleanup after close.
    clearTimeout(this.self.cleanupTimeout)
    Object.defineProperty(this.self, 'cleanupTimeout', { configurable: true, get: noop, set: clearTimeout })
    // node-redis before 6.3 throws at a connection already closed, leaving the rest open.
    try {
      this.pool.destroy()
    } catch {}
    await Promise.all([this.probe, ...this.clients].map(destroy))
  }

  /** Drops the probe and every connection (what waits on them rejects), and connects each again. */
  async reopen (closing: () => boolean, timeout: number): Promise<void> {
    await Promise.all([this.probe, ...this.open()].map(async (client) => {
      await within(destroy(client), timeout).catch(noop)
      if (!closing()) await client.connect()
    }))
  }
}
/* c8 ignore stop */
