import { ClientOfflineError } from 'redis'
import { destroy, noop, within, type Closable, type Driver, type Emitter, type Event } from './driver'
import type { KillSwitch } from './kill-switch'

/** The part of a node-redis client (any major) the driver relies on. */
export interface NodeRedisClient extends Closable, Emitter {
  readonly isReady: boolean
  connect (): Promise<unknown>
  ping (): Promise<unknown>
}

/**
 * Where node-redis sends MULTI, pipelines and isolated commands: v4 has
 * `multiExecutor` and `executeIsolated`, 5 and later `_executeMulti` and
 * `_executePipeline`. Every major queues them while the connection is down,
 * whatever `disableOfflineQueue` says.
 */
const QUEUEING = ['multiExecutor', 'executeIsolated', '_executeMulti', '_executePipeline'] as const

/** Makes MULTI, pipelines and isolated commands fail at once while offline, on this client only. */
function failFastWhileOffline (client: NodeRedisClient): void {
  const target = client as unknown as Record<string, unknown>
  for (const method of QUEUEING) {
    const original = target[method]
    if (typeof original !== 'function') continue
    target[method] = function (this: unknown, ...args: unknown[]) {
      return client.isReady ? original.apply(client, args) : Promise.reject(new ClientOfflineError())
    }
  }
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
