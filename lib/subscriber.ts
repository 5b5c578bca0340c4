import type { RedisClientType, RedisDefaultModules } from 'redis'

type Client = RedisClientType<RedisDefaultModules>

/** What a RESP2 connection in subscriber mode accepts, and the state and events of the client. */
type Allowed =
  | 'subscribe' | 'SUBSCRIBE' | 'unsubscribe' | 'UNSUBSCRIBE'
  | 'pSubscribe' | 'PSUBSCRIBE' | 'pUnsubscribe' | 'PUNSUBSCRIBE'
  | 'sSubscribe' | 'SSUBSCRIBE' | 'sUnsubscribe' | 'SUNSUBSCRIBE'
  | 'ping' | 'PING' | 'isOpen' | 'isReady' | 'isPubSubActive'
  | 'on' | 'once' | 'off' | 'addListener' | 'removeListener'

/**
 * The type of a subscriber connection (option `subscriber`): the node-redis
 * client of the installed major, limited to what subscriber mode allows
 * (`subscribe`, `pSubscribe`, `sSubscribe`, their `un…` counterparts, `ping`)
 * and its state. No data commands (a RESP2 connection in subscriber mode
 * refuses them), and no `connect`, `quit`, `close` or `disconnect`: the
 * plugin opens, reopens and closes it.
 */
export type RedisSubscriber = Pick<Client, Extract<keyof Client, Allowed>>
