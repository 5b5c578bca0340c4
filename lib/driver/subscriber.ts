import { ClientDriver, type NodeRedisClient } from './client'
import { destroy, noop, within } from './driver'
import type { KillSwitch } from './kill-switch'
import type { CommandSink } from './metering'

/** Subscriptions by kind: SUBSCRIBE channels, PSUBSCRIBE patterns, SSUBSCRIBE shard channels. */
export interface Subscriptions {
  channels: number
  patterns: number
  shards: number
}

const KINDS = { channels: 'CHANNELS', patterns: 'PATTERNS', shards: 'SHARDED' } as const
/** The subscribe methods of each kind, both spellings. */
const SUBSCRIBE = [['subscribe', 'SUBSCRIBE'], ['pSubscribe', 'PSUBSCRIBE'], ['sSubscribe', 'SSUBSCRIBE']] as const

/** What counts a subscriber's subscriptions, messages and, as commands, its (un)subscribe calls (the connection's metrics). */
export interface SubscriberMeter extends CommandSink {
  subscriptions (count: number): void
  message (): void
}

type Method = (...args: unknown[]) => Promise<unknown>

/** The unsubscribe methods of each kind, both spellings (node-redis gives them as separate properties). */
const UNSUBSCRIBE = {
  channels: ['unsubscribe', 'UNSUBSCRIBE'],
  patterns: ['pUnsubscribe', 'PUNSUBSCRIBE'],
  shards: ['sUnsubscribe', 'SUNSUBSCRIBE']
} as const
/** Every (un)subscribe method, both spellings: SubscriberDriver.meter() times them (the metrics' layer leaves them out). */
export const PUBSUB_METHODS: ReadonlySet<string> = new Set([...SUBSCRIBE, ...Object.values(UNSUBSCRIBE)].flat())
/** The fields of a CLIENT LIST line that count each kind (`ssub` since Redis 7). */
const FIELDS = { channels: 'sub', patterns: 'psub', shards: 'ssub' } as const

/** What a subscriber client has beyond a client, on every major. */
interface NodeRedisSubscriber extends NodeRedisClient {
  getPubSubListeners (type: string): Map<string, unknown>
  sendCommand (args: string[]): Promise<unknown>
}

export function total (subscriptions: Subscriptions): number {
  return subscriptions.channels + subscriptions.patterns + subscriptions.shards
}

/** "2 channels, 1 pattern": the kinds held, for a log line. */
export function describeSubscriptions (subscriptions: Subscriptions): string {
  const parts: string[] = []
  const add = (n: number, one: string, many: string): void => { if (n > 0) parts.push(`${n} ${n === 1 ? one : many}`) }
  add(subscriptions.channels, 'channel', 'channels')
  add(subscriptions.patterns, 'pattern', 'patterns')
  add(subscriptions.shards, 'shard channel', 'shard channels')
  return parts.join(', ')
}

/**
 * A client used for SUBSCRIBE only. node-redis resubscribes by itself when it
 * reconnects; this driver lets the lifecycle check that the server really
 * lists the subscriptions again. A RESP2 connection in subscriber mode
 * accepts nothing but (P|S)(UN)SUBSCRIBE, PING, RESET and QUIT, so the check
 * runs CLIENT LIST on a short-lived second connection and finds this one by
 * its client name.
 */
export class SubscriberDriver extends ClientDriver {
  declare readonly client: NodeRedisSubscriber

  /** The listeners given to subscribe(), by the counting ones that stand in for them (metrics on). */
  private readonly metered = new WeakMap<Function, Function>()

  /** `verifier` builds an unconnected client to the same server, with the same credentials. */
  constructor (client: NodeRedisClient, kill: KillSwitch | undefined, readonly clientName: string, private readonly verifier: () => NodeRedisClient) {
    super(client, kill, true)
    // On node-redis 4 and 5 (RESP2), UNSUBSCRIBE without channels never
    // settles, and every command after it waits behind it: name them all.
    const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
    for (const kind of Object.keys(UNSUBSCRIBE) as Array<keyof typeof UNSUBSCRIBE>) {
      const unsubscribe = target[UNSUBSCRIBE[kind][0]]
      const metered = this.metered
      const all = async function (this: unknown, channels?: unknown, listener?: unknown, ...rest: unknown[]): Promise<unknown> {
        // A listener counted by the metrics is known to node-redis by its stand-in.
        const given = (typeof listener === 'function' && metered.get(listener)) || listener
        if (channels !== undefined && (!Array.isArray(channels) || channels.length > 0)) return await unsubscribe.call(this, channels, given, ...rest)
        const held = [...(client as NodeRedisSubscriber).getPubSubListeners(KINDS[kind]).keys()]
        return held.length === 0 ? undefined : await unsubscribe.call(this, held, given, ...rest)
      }
      for (const method of UNSUBSCRIBE[kind]) target[method] = all
    }
  }

  /**
   * Counts the messages each listener receives and the subscriptions held,
   * for the connection's metrics: subscribe() gets a stand-in for each
   * listener, which unsubscribe() knows it by.
   */
  meter (meter: SubscriberMeter): void {
    const target = this.client as unknown as Record<string, Method>
    const standIn = (listener: unknown): unknown => {
      if (typeof listener !== 'function') return listener
      let counting = this.metered.get(listener)
      if (counting === undefined) {
        counting = function (this: unknown, ...args: unknown[]): unknown {
          meter.message()
          return listener.apply(this, args)
        }
        this.metered.set(listener, counting)
      }
      return counting
    }
    const update = (): void => { meter.subscriptions(total(this.held())) }
    for (const names of [...SUBSCRIBE, ...Object.values(UNSUBSCRIBE)]) {
      const method = target[names[0]]
      const subscribe = (SUBSCRIBE as ReadonlyArray<readonly string[]>).includes(names)
      // Each call counts as a command, on every major: node-redis 4 keeps them as own properties, out of the layer's reach.
      const counted: Method = async function (this: unknown, channels, listener, ...rest) {
        const start = performance.now()
        try {
          const reply = await method.call(this, channels, subscribe ? standIn(listener) : listener, ...rest)
          meter.done(start)
          return reply
        } catch (err) {
          meter.failed(start, err)
          throw err
        } finally {
          update()
        }
      }
      for (const name of names) target[name] = counted
    }
  }

  /** What node-redis holds, and resubscribes to after a reconnection. */
  held (): Subscriptions {
    const count = (kind: keyof typeof KINDS): number => this.client.getPubSubListeners(KINDS[kind]).size
    return { channels: count('channels'), patterns: count('patterns'), shards: count('shards') }
  }

  /**
   * What the server lists for this connection (zero of each kind when it
   * does not list the connection at all); rejects when the second connection
   * cannot connect or may not run CLIENT LIST, or after `timeout` ms.
   */
  async listed (timeout: number): Promise<Subscriptions> {
    const probe = this.verifier() as NodeRedisSubscriber
    probe.on('error', noop)
    try {
      const list = await within((async () => {
        await probe.connect()
        return String(await probe.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']))
      })(), timeout)
      const line = list.split('\n').find((entry) => entry.split(' ').includes(`name=${this.clientName}`)) ?? ''
      const field = (kind: keyof typeof FIELDS): number => Number(new RegExp(`(?:^| )${FIELDS[kind]}=(\\d+)`).exec(line)?.[1] ?? 0)
      return { channels: field('channels'), patterns: field('patterns'), shards: field('shards') }
    } finally {
      await destroy(probe)
    }
  }

  /** Unsubscribes from everything (the server answers in order, so every earlier command was answered too). */
  override async drain (): Promise<unknown> {
    const target = this.client as unknown as Record<string, () => Promise<unknown>>
    await Promise.all(Object.values(UNSUBSCRIBE).map(async ([method]) => await target[method]()))
    return await this.ping()
  }
}
