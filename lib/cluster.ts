import type { RedisClusterType, RedisDefaultModules, RedisFunctions, RedisModules, RedisScripts } from 'redis'
import type { ClientLike } from './connection'
import type { ConnectionSpec } from './options'

/**
 * The type of a cluster client the plugin builds: `RedisCluster` for the
 * default, `RedisCluster<typeof modules, typeof functions, typeof scripts>`
 * when `clusterOptions` adds modules, functions or scripts.
 */
export type RedisCluster<
  M extends RedisModules = Record<string, never>,
  F extends RedisFunctions = Record<string, never>,
  S extends RedisScripts = Record<string, never>
> = RedisClusterType<RedisDefaultModules & M, F, S>

interface NodeClient { readonly isReady: boolean, readonly isOpen: boolean, ping (): Promise<unknown>, disconnect (): Promise<void>, connect (): Promise<unknown> }
interface Node { client?: NodeClient | Promise<NodeClient> }
interface Shard { master: Node, replicas?: Node[] }
/** The part of a node-redis v4 cluster the lifecycle relies on. */
export interface ClusterLike {
  readonly isOpen: boolean
  readonly masters: Node[]
  readonly replicas: Node[]
  readonly shards: Shard[]
  readonly slots: Shard[]
  connect (): Promise<unknown>
  disconnect (): Promise<void>
  nodeClient (node: Node): NodeClient | Promise<NodeClient>
  sendCommand (firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  on (event: string, listener: (...args: any[]) => void): unknown
  off (event: string, listener: (...args: any[]) => void): unknown
}

function isClient (client: Node['client']): client is NodeClient {
  return client !== undefined && !(client instanceof Promise)
}

/** Whether every node client the cluster has is ready (nodes it has not opened yet count as fine). */
export function clusterIsReady (cluster: ClusterLike): boolean {
  return cluster.isOpen && cluster.masters.every((m) => !isClient(m.client) || m.client.isReady)
}

/** PING every master; resolves when all answered. */
export async function pingCluster (cluster: ClusterLike): Promise<void> {
  await Promise.all(cluster.masters.map(async (m) => await (await cluster.nodeClient(m)).ping()))
}

// CRC16-CCITT (XMODEM), the hash of Redis Cluster's key slots.
const CRC_TABLE = new Uint16Array(256).map((_, i) => {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
  return crc & 0xffff
})

/** The slot of a key without hash tags (the keys the plugin makes have none). */
export function slotOf (key: string): number {
  let crc = 0
  for (const byte of Buffer.from(key)) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]
  return crc % 16384
}

/** A key whose slot the cluster maps to this shard. */
function keyIn (cluster: ClusterLike, shard: Shard): string | undefined {
  // A shard owning a single slot is found within about 16384 tries on average.
  for (let i = 0; i < 200_000; i++) {
    const key = `fastify-node-redis:refresh:${i}`
    if (cluster.slots[slotOf(key)] === shard) return key
  }
  /* c8 ignore start -- a shard of the slot map owns at least one slot */
  return undefined
}
/* c8 ignore stop */

/**
 * A socket's AbortSignal that only this plugin fires. Every node socket gets
 * it, so that close can tear down a socket stuck in a handshake with a paused
 * node, which `disconnect()` cannot reach. A real AbortController cannot be
 * used: node-redis keeps opening sockets after an abort, and on Node 20 a
 * socket created with an already-aborted signal still connects.
 */
export function killSwitch (): { signal: object, abort: () => void } {
  const listeners = new Set<() => void>()
  const signal = {
    aborted: false,
    reason: undefined,
    onabort: null,
    addEventListener (_type: string, listener: () => void) {
      if (signal.aborted) listener()
      else listeners.add(listener)
    },
    removeEventListener (_type: string, listener: () => void) { listeners.delete(listener) },
    dispatchEvent () { return false },
    throwIfAborted () {}
  }
  return {
    signal,
    abort () {
      signal.aborted = true
      for (const listener of listeners) listener()
      listeners.clear()
    }
  }
}

/** node-redis `createCluster` options for a cluster the plugin builds itself. */
export function clusterClientOptions (spec: ConnectionSpec, strategy: (retries: number, cause: Error) => false | number, signal: object): object {
  const { defaults = {}, ...rest } = spec.cluster!.options
  const { socket: userSocket, ...defaultsRest } = defaults
  const socket: Record<string, unknown> = { connectTimeout: spec.connectTimeout, ...userSocket, reconnectStrategy: strategy, signal }
  if (spec.tls) Object.assign(socket, spec.tls, { tls: true })
  return {
    ...rest,
    rootNodes: spec.cluster!.rootNodes.map(({ host, port }) => ({ socket: { host, port } })),
    // Credentials, TLS and disableOfflineQueue must sit in `defaults`: the
    // root nodes' own options reach the topology probe only.
    defaults: {
      disableOfflineQueue: true,
      ...defaultsRest,
      socket,
      ...(spec.username !== undefined && { username: spec.username }),
      ...(spec.password !== undefined && { password: spec.password })
    }
  }
}

/**
 * Adapts a node-redis v4 cluster to the connection lifecycle. node-redis
 * rediscovers the topology only on a MOVED or ASK answer, so after a master
 * dies and its replica is promoted, the dead master's slots would fail
 * forever: while a master is not ready, `maintain()` asks a live master for
 * a key of the dead one's slots, whose MOVED makes node-redis rediscover.
 */
export class ClusterDriver implements ClientLike {
  private readonly probes = new Map<NodeClient, number>()

  constructor (readonly cluster: ClusterLike, private readonly kill: { abort: () => void }) {}

  get isOpen (): boolean { return this.cluster.isOpen }
  get isReady (): boolean { return clusterIsReady(this.cluster) }
  async connect (): Promise<unknown> { return await this.cluster.connect() }
  on (event: string, listener: (...args: any[]) => void): unknown { return this.cluster.on(event, listener) }
  off (event: string, listener: (...args: any[]) => void): unknown { return this.cluster.off(event, listener) }

  /** PING every master; each node's probe is remembered for reopen(). */
  async ping (): Promise<unknown> {
    return await Promise.all(this.cluster.masters.map(async (m) => {
      const client = await this.cluster.nodeClient(m)
      this.probes.set(client, Date.now())
      try {
        return await client.ping()
      } finally {
        this.probes.delete(client)
      }
    }))
  }

  async disconnect (): Promise<void> {
    this.kill.abort()
    await this.cluster.disconnect()
  }

  /** Drops and reopens the node connections whose PING went unanswered. */
  async reopen (closing: () => boolean): Promise<void> {
    const stalled = [...this.probes.keys()]
    this.probes.clear()
    await Promise.all(stalled.map(async (client) => {
      await client.disconnect().catch(() => {})
      if (!closing()) await client.connect()
    }))
  }

  maintain (): void {
    const shards = this.cluster.shards
    const down = shards.find((s) => isClient(s.master.client) && !s.master.client.isReady)
    const live = shards.find((s) => isClient(s.master.client) && s.master.client.isReady)
    if (down === undefined || live === undefined) return
    const key = keyIn(this.cluster, live)
    const other = keyIn(this.cluster, down)
    /* c8 ignore next -- see keyIn */
    if (key === undefined || other === undefined) return
    // At most one such command per tick; node-redis runs one rediscovery at a time.
    this.cluster.sendCommand(key, false, ['EXISTS', other]).catch(() => {})
  }
}
