/** The events the lifecycle listens to. */
export type Event = 'error' | 'ready' | 'connect' | 'end'

/**
 * What the connection lifecycle drives: a node-redis client, cluster or
 * client pool of any major, seen through one adapter. Nothing outside `lib/driver/` knows
 * which major is installed.
 */
export interface Driver {
  /** Whether the client was opened and not closed since (it may be reconnecting). */
  readonly isOpen: boolean
  /** Whether commands can be sent now (for a cluster: every node it opened is ready). */
  readonly isReady: boolean
  connect (): Promise<unknown>
  /** PING (for a cluster: every master; for a pool: every idle connection); resolves when answered. */
  ping (): Promise<unknown>
  /** What close waits for, up to closeTimeout: every command sent so far answered. */
  drain (): Promise<unknown>
  /**
   * Tears everything down at once, sockets still connecting included,
   * rejecting what is queued; never throws. The client cannot reopen after it.
   */
  close (): Promise<void>
  /**
   * Drops what stopped answering (waiting commands reject) and connects
   * again, unless `closing()` says not to; a drop waits `timeout` ms at most.
   */
  reopen (closing: () => boolean, timeout: number): Promise<void>
  /** Called on every watchdog tick. */
  maintain (): void
  /** What the ready log line says of it beyond the target (for a cluster: the masters). */
  describe (): string
  on (event: Event, listener: (...args: any[]) => void): void
  off (event: Event, listener: (...args: any[]) => void): void
}

/** The events and methods every node-redis client and cluster has. */
export interface Emitter {
  on (event: string, listener: (...args: any[]) => void): unknown
  off (event: string, listener: (...args: any[]) => void): unknown
}

export function noop (): void {}

export class TimeoutError extends Error {}

/** Resolves with the promise, or rejects with a TimeoutError once `ms` have passed. */
export async function within<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** A client or node client of any major: what tearing it down needs. */
export interface Closable {
  readonly isOpen: boolean
  /** 5+: rejects what is queued and drops the socket; throws when already closed (before 6.3). */
  destroy? (): void
  /** v4 (a deprecated alias of destroy() on 5+). */
  disconnect? (): Promise<void>
}

/**
 * Tears a client down at once. Never `quit()` / `close()`: they wait for
 * answers and hang while the server is down or stalled.
 */
export async function destroy (client: Closable): Promise<void> {
  if (!client.isOpen) return
  /* c8 ignore start -- the branch taken depends on the major (5+ destroy(), 4 disconnect()): .ci/run runs the suite on each; a client closed meanwhile throws ClientClosedError */
  try {
    if (typeof client.destroy === 'function') client.destroy()
    else await client.disconnect?.()
  } catch {}
  /* c8 ignore stop */
}
