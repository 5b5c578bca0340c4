// Found by `npm run chaos` (seed 2, targets bare-cluster and example-cluster):
// an app.close() while node-redis v4 rediscovers the cluster topology (after
// a CLIENT KILL or a master SIGKILL) left one connected socket per root node
// open for good, in the server's CLIENT LIST with no name and no command
// (cmd=NULL), and the process could not exit. The sockets came from
// RedisClusterSlots#getShards: its discovery client connects with the
// plugin's kill switch as its socket signal, already aborted by close().
// Node 20's net.Socket destroys a socket whose signal is already aborted
// (`signal.aborted` is read first), emits AbortError, and then connect()
// undestroys it and connects anyway; node-redis has given up on it by then
// and never closes it.
//
// This reproduces the mechanism on its own, with a real redis-server and a
// real node-redis client: a node socket opened with the kill switch after
// the abort must not stay connected.
import { test } from 'tap'
import { Socket } from 'node:net'
import { createClient } from 'redis'
import { killSwitch } from '../lib/driver/kill-switch'
import { sleep } from './helpers/app'
import { startRedis } from './helpers/redis'

function socketsTo (port: number): Socket[] {
  return (process as unknown as { _getActiveHandles (): unknown[] })._getActiveHandles()
    .filter((h): h is Socket => h instanceof Socket && h.remotePort === port && !h.destroyed)
}

test('a node socket opened with the kill switch after close is torn down, not left connected', async (t) => {
  const server = await startRedis(t)
  const kill = killSwitch()
  kill.abort()
  // What RedisClusterSlots#getShards does for each root node during a rediscovery.
  const client = createClient({ socket: { host: '127.0.0.1', port: server.port, signal: kill.signal, reconnectStrategy: false } as object, name: 'late-node' })
  client.on('error', () => {})
  const outcome = await client.connect().then(() => 'connected', (err: Error) => err.name)
  t.not(outcome, 'connected', 'node-redis sees the connection fail')
  await sleep(300)
  const left = socketsTo(server.port)
  t.equal(left.length, 0, 'the process holds no socket to the node')
  t.same((await server.clients()).map((c) => c.addr), [], 'the node lists no connection')
  for (const socket of left) socket.destroy()
})
