import { ClientOfflineError } from 'redis'
import { destroy, noop, within, type Closable, type Driver, type Emitter, type Event } from './driver'
import type { KillSwitch } from './kill-switch'

/** The part of a node-redis client (any major) the driver relies on. */
export interface NodeRedisClient extends Closable, Emitter {
  readonly isReady: boolean
  connect (): Promise<unknown>
  ping (): Promise<unknown>
}

interface Transaction {
  exec (...args: unknown[]): Promise<unknown>
  execAsPipeline (...args: unknown[]): Promise<unknown>
}
type MultiClass = new (...args: any[]) => Transaction

/**
 * Every major queues MULTI and pipelines while the connection is down,
 * whatever `disableOfflineQueue` says, and v4 also waits in
 * `executeIsolated()`. Make them fail at once too, on this client only:
 * every major's `multi()` / `MULTI()` builds its transactions with
 * `new this.Multi(…)`, so the client gets a subclass of its Multi class whose
 * `exec` and `execAsPipeline` check the connection first. (Wrapping
 * node-redis's executors instead, `multiExecutor` or `_executeMulti`, cost
 * every command about 5% of server CPU in the benchmark, MULTI or not; so
 * did wrapping each transaction `multi()` handed out, for MULTI.)
 */
export function failFastWhileOffline (client: NodeRedisClient): void {
  const target = client as unknown as Record<string, unknown>
  const offline = async (): Promise<never> => await Promise.reject(new ClientOfflineError())
  const Multi = target.Multi as MultiClass | undefined
  // A clientClass may build something else than a node-redis client: its MULTI is its own.
  if (typeof Multi === 'function') {
    target.Multi = class FailFastMulti extends Multi {
      override async exec (...args: unknown[]): Promise<unknown> {
        return client.isReady ? await super.exec(...args) : await offline()
      }

      override async execAsPipeline (...args: unknown[]): Promise<unknown> {
        return client.isReady ? await super.execAsPipeline(...args) : await offline()
      }
    }
  }
  const isolated = target.executeIsolated as ((...args: unknown[]) => Promise<unknown>) | undefined
  /* c8 ignore start -- node-redis 4 only (5 and later have no executeIsolated); .ci/run runs the suite on each major */
  if (typeof isolated === 'function') {
    target.executeIsolated = async (...args: unknown[]) => client.isReady ? await isolated.apply(client, args) : await offline()
  }
  /* c8 ignore stop */
}

/** A single node-redis client (v4 `RedisClientType`, 5+ `RedisClientType` wrappers alike). */
export class ClientDriver implements Driver {
  /**
   * `kill`: the switch its sockets were given, when the plugin built it.
   * `failFast`: MULTI and pipelines fail at once while offline too.
   */
  constructor (readonly client: NodeRedisClient, private readonly kill: KillSwitch | undefined, failFast: boolean) {
    if (failFast) failFastWhileOffline(client)
  }

  get isOpen (): boolean { return this.client.isOpen }
  get isReady (): boolean { return this.client.isReady }
  async connect (): Promise<unknown> { return await this.client.connect() }
  async ping (): Promise<unknown> { return await this.client.ping() }
  /** A PING answered: every command sent before it was answered. */
  async drain (): Promise<unknown> { return await this.ping() }
  maintain (): void {}
  describe (): string { return '' }
  on (event: Event, listener: (...args: any[]) => void): void { this.client.on(event, listener) }
  off (event: Event, listener: (...args: any[]) => void): void { this.client.off(event, listener) }

  async close (): Promise<void> {
    this.kill?.abort()
    await destroy(this.client)
  }

  async reopen (closing: () => boolean, timeout: number): Promise<void> {
    await within(destroy(this.client), timeout).catch(noop)
    if (!closing()) await this.client.connect()
  }
}
