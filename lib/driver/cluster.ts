import { ClientClosedError } from 'redis'
import { commandKey, layerCommands } from './commands'
import { destroy, noop, type Closable, type Driver, type Emitter, type Event } from './driver'
import type { KillSwitch } from './kill-switch'

interface NodeClient extends Closable { readonly isReady: boolean, ping (): Promise<unknown>, connect (): Promise<unknown> }
interface Node { client?: NodeClient | Promise<NodeClient> }
interface Shard { master: Node }

/** The part of a node-redis cluster (any major) the driver relies on. */
export interface NodeRedisCluster extends Closable, Emitter {
  readonly masters: Node[]
  /** The shard of each of the 16384 slots. */
  readonly slots: Shard[]
  connect (): Promise<unknown>
  nodeClient (node: Node): NodeClient | Promise<NodeClient>
  sendCommand (firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
}

/** Whether a built object is a cluster: only a cluster hands out node clients. */
export function isCluster (built: object): built is NodeRedisCluster {
  return typeof (built as Partial<NodeRedisCluster>).nodeClient === 'function'
}

function isClient (client: Node['client']): client is NodeClient {
  return client !== undefined && !(client instanceof Promise)
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

type Multi = Record<'exec' | 'execAsPipeline', unknown>

/**
 * Makes a closed cluster reject every command with node-redis's
 * `ClientClosedError`, as a closed client does and as node-redis 6's
 * cluster does: node-redis 4 and 5 throw a `TypeError` ("Cannot read
 * properties of undefined (reading 'master')") from the slot map their
 * close emptied, which reaches a route still running during shutdown. A
 * layer between the cluster and its prototype, put in once it is closed:
 * nothing is added to the command path before. A transaction still
 * builds (its methods chain), and its `exec()` is refused.
 */
function refuseCommands (cluster: object): void {
  const target = cluster as Record<string, unknown>
  const closed = async (): Promise<never> => { throw new ClientClosedError() }
  const build = target.MULTI as (...args: unknown[]) => Multi
  const commands = new Set<string>()
  layerCommands(cluster, (name) => {
    commands.add(commandKey(name))
    return closed
  })
  // Aliases that are own properties (node-redis 4's constructor and 5's and 6's class fields make `subscribe`…) are replaced where they are.
  for (const name of Object.getOwnPropertyNames(cluster)) {
    if (typeof Object.getOwnPropertyDescriptor(cluster, name)?.value === 'function' && commands.has(commandKey(name))) target[name] = closed
  }
  target.multi = target.MULTI = function (this: unknown, ...args: unknown[]): Multi {
    const multi = build.apply(this, args)
    multi.exec = multi.execAsPipeline = closed
    return multi
  }
}

/**
 * Adapts a node-redis cluster to the connection lifecycle. node-redis 4 and
 * 5 rediscover the topology only on a MOVED or ASK answer (6 also after
 * failed reconnects, but later than the bound the plugin promises), so
 * after a master dies and its replica is promoted, the dead master's slots
 * would fail for long: while a master is not ready, `maintain()` asks a live
 * master for a key of the dead one's slots, whose MOVED makes node-redis
 * rediscover.
 */
export class ClusterDriver implements Driver {
  /** The node clients whose PING is outstanding, for reopen(). */
  private readonly probes = new Set<NodeClient>()
  /** A MULTI failed with EXECABORT: the slot map may be stale though every master is ready. */
  private stale = false

  /** `kill`: the switch its sockets were given, when the plugin built it (and may watch its MULTIs). */
  constructor (readonly cluster: NodeRedisCluster, private readonly kill: KillSwitch | undefined) {
    if (kill !== undefined) this.watchMulti()
  }

  /**
   * After a failover that leaves the old master up, every command of a MULTI
   * for its former slots gets MOVED and EXEC answers EXECABORT (node-redis 5
   * rejects with the MOVED itself); node-redis rediscovers on a single
   * command's MOVED only. Such an error marks the slot map stale, for
   * maintain().
   */
  private watchMulti (): void {
    const cluster = this.cluster as unknown as Record<'multi' | 'MULTI', (...args: unknown[]) => { exec: (...args: unknown[]) => Promise<unknown> }>
    const original = cluster.multi
    const watched = (...args: unknown[]): ReturnType<typeof original> => {
      const multi = original.apply(this.cluster, args)
      const exec = multi.exec
      multi.exec = async (...execArgs: unknown[]) => {
        try {
          return await exec.apply(multi, execArgs)
        /* c8 ignore start -- node-redis 6 follows a MULTI's MOVED itself: no cluster MULTI of the suite fails there (4 and 5 run this; .ci/run runs each major) */
        } catch (err) {
          if (/^(EXECABORT|MOVED) /.test((err as Error).message)) this.stale = true
          throw err
        }
        /* c8 ignore stop */
      }
      return multi
    }
    cluster.multi = watched
    cluster.MULTI = watched
  }

  get isOpen (): boolean { return this.cluster.isOpen }
  /** Every node client the cluster has is ready (nodes it has not opened yet count as fine). */
  get isReady (): boolean {
    return this.cluster.isOpen && this.cluster.masters.every((m) => !isClient(m.client) || m.client.isReady)
  }

  async connect (): Promise<unknown> { return await this.cluster.connect() }
  describe (): string { return ` (${this.cluster.masters.length} masters)` }

  // Node errors reach the cluster's "error" on v4 and its "node-error" on 5+.
  on (event: Event, listener: (...args: any[]) => void): void {
    this.cluster.on(event, listener)
    if (event === 'error') this.cluster.on('node-error', listener)
  }

  off (event: Event, listener: (...args: any[]) => void): void {
    this.cluster.off(event, listener)
    if (event === 'error') this.cluster.off('node-error', listener)
  }

  /** PING every master; each node's probe is remembered for reopen(). */
  async ping (): Promise<unknown> {
    return await Promise.all(this.cluster.masters.map(async (m) => {
      const client = await this.cluster.nodeClient(m)
      this.probes.add(client)
      try {
        return await client.ping()
      } finally {
        this.probes.delete(client)
      }
    }))
  }

  /** Every master's PING answered: every command sent before them was answered. */
  async drain (): Promise<unknown> { return await this.ping() }

  async close (): Promise<void> {
    this.kill?.abort()
    await destroy(this.cluster)
    refuseCommands(this.cluster)
  }

  /** Drops and reopens the node connections whose PING went unanswered. */
  async reopen (closing: () => boolean): Promise<void> {
    const stalled = [...this.probes]
    this.probes.clear()
    await Promise.all(stalled.map(async (client) => {
      await destroy(client)
      if (!closing()) await client.connect()
    }))
  }

  maintain (): void {
    const shards = [...new Set(this.cluster.slots)].filter((s) => s !== undefined && isClient(s.master.client))
    /* c8 ignore start -- reached after a failed MULTI only, which node-redis 6 never has (see watchMulti) */
    if (this.stale) {
      // A single command for each shard's slots: the one that moved answers MOVED.
      this.stale = false
      for (const shard of shards) {
        const key = this.keyIn(shard)
        this.cluster.sendCommand(key, true, ['TYPE', key]).catch(noop)
      }
      return
    }
    /* c8 ignore stop */
    const down = shards.find((s) => !(s.master.client as NodeClient).isReady)
    const live = shards.find((s) => (s.master.client as NodeClient).isReady)
    if (down === undefined || live === undefined) return
    const key = this.keyIn(live)
    const other = this.keyIn(down)
    // At most one such command per tick; node-redis runs one rediscovery at a
    // time. A single-key command: node-redis 6 routes multi-key ones (EXISTS)
    // by their keys, straight to the dead master, instead of by `key`.
    this.cluster.sendCommand(key, true, ['TYPE', other]).catch(noop)
  }

  /** A key whose slot the cluster maps to this shard. */
  private keyIn (shard: Shard): string {
    // A shard owning a single slot is found within about 16384 tries on average.
    let i = 0
    while (this.cluster.slots[slotOf(`fastify-node-redis:refresh:${i}`)] !== shard && i < 200_000) i++
    return `fastify-node-redis:refresh:${i}`
  }
}
