/**
 * A socket's AbortSignal that only this plugin fires. Every socket the
 * plugin's clients open gets it, so that close can tear down a socket that is
 * still connecting (a reconnect that started a moment before close, or a
 * handshake with a paused server), which node-redis's own teardown cannot
 * reach: it does not hold the socket until it has connected. A real
 * AbortController cannot be used: node-redis keeps opening sockets after an
 * abort, and on Node 20 a socket created with an already-aborted signal
 * still connects.
 */
export interface KillSwitch {
  readonly signal: object
  abort (): void
  /** Tears down every socket open now, and leaves later ones alone (a Sentinel's reopen). */
  cut (): void
}

export function killSwitch (): KillSwitch {
  const listeners = new Set<() => void>()
  let fired = false
  // `aborted` stays false even after abort(): Node reads it first, and for a
  // socket created with an already-aborted signal it destroys the socket at
  // once and then lets connect() bring it back to life (Node 20), a socket
  // nobody holds. A listener added after abort() runs on the next tick
  // instead, once connect() has started, and tears the socket down for good.
  const signal = {
    aborted: false,
    reason: undefined,
    onabort: null,
    addEventListener (_type: string, listener: () => void) {
      if (fired) process.nextTick(listener)
      else listeners.add(listener)
    },
    removeEventListener (_type: string, listener: () => void) { listeners.delete(listener) },
    dispatchEvent () { return false },
    throwIfAborted () {}
  }
  return {
    signal,
    abort () {
      fired = true
      for (const listener of listeners) listener()
      listeners.clear()
    },
    cut () {
      // Node removes a socket's listener once the socket has closed.
      for (const listener of [...listeners]) listener()
    }
  }
}
