import { test } from 'tap'
import { existsSync } from 'node:fs'
import { createCluster } from 'redis'
import { startCluster, slotOf, type RedisCluster } from './helpers/cluster'

const PASSWORD = 'helper-Pa55word'

const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('startCluster: a real 3 + 3 cluster, ok everywhere, gone after teardown', async (t) => {
  let cluster: RedisCluster | undefined
  let secure: RedisCluster | undefined
  let pids: Array<number | undefined> = []

  await t.test('the running clusters', async (t) => {
    // Two at once: a plain one, and one with TLS and a password.
    [cluster, secure] = await Promise.all([startCluster(t), startCluster(t, { tls: true, password: PASSWORD })])
    const c = cluster
    pids = [...c.nodes, ...secure.nodes].map((n) => n.process.pid)
    t.equal(c.nodes.length, 6)
    t.equal(new Set(c.nodes.map((n) => n.port)).size, 6, 'six distinct ports')
    t.same(c.rootUrls, c.nodes.map((n) => `redis://127.0.0.1:${n.port}`))

    for (const { port } of c.nodes) {
      t.match(String(await c.command(port, 'CLUSTER', 'INFO')), /cluster_state:ok/, `node ${port} is ok`)
    }
    const masters = await c.masters()
    const replicas = await c.replicas()
    t.equal(masters.length, 3, '3 masters')
    t.equal(replicas.length, 3, '3 replicas')
    t.same([...masters].sort(), c.nodes.filter((n) => n.role === 'master').map((n) => n.port).sort(), 'nodes[].role agrees')

    const view = await c.topology()
    const served = view.flatMap((n) => n.slots).reduce((sum, [a, b]) => sum + b - a + 1, 0)
    t.equal(served, 16384, 'every slot is served')
    for (const master of view.filter((n) => n.role === 'master')) {
      t.equal(view.filter((n) => n.masterId === master.id).length, 1, `master ${master.port} has one replica`)
    }

    // The helper's slot function matches Redis, hash tags included.
    for (const key of ['a', 'foo', '{user1}.cart', 'x{}y', 'é']) {
      t.equal(slotOf(key), await c.command(masters[0], 'CLUSTER', 'KEYSLOT', key), `slot of ${key}`)
    }

    // node-redis reaches every master through rootUrls.
    const client = createCluster({ rootNodes: c.rootUrls.map((url) => ({ url })) })
    client.on('error', () => {})
    await client.connect()
    t.teardown(() => client.isOpen ? client.disconnect() : undefined)
    for (const port of masters) {
      const key = await c.keyOn(port)
      t.equal(await c.masterOf(key), port)
      await client.set(key, String(port))
      t.equal(await c.command(port, 'GET', key), String(port), `${key} landed on ${port}`)
    }

    // The TLS + password cluster: every node client needs tls, ca and password (node-redis `defaults`).
    t.ok(secure.rootUrls.every((url) => url.startsWith('rediss://127.0.0.1:')))
    const tlsClient = createCluster({
      rootNodes: secure.nodes.map((n) => ({ socket: { host: '127.0.0.1', port: n.port } })),
      defaults: { password: PASSWORD, socket: { tls: true, ca: secure.certs!.caPem } }
    })
    tlsClient.on('error', () => {})
    await tlsClient.connect()
    t.teardown(() => tlsClient.isOpen ? tlsClient.disconnect() : undefined)
    for (const port of await secure.masters()) {
      const key = await secure.keyOn(port)
      await tlsClient.set(key, 'tls')
      t.equal(await secure.command(port, 'GET', key), 'tls', `${key} landed on TLS node ${port}`)
    }
    await tlsClient.disconnect()

    // A paused replica is skipped by waitForState; after resume it is ok again.
    c.pause(replicas[0])
    await c.waitForState('ok', { replicasInSync: false })
    c.resume(replicas[0])
    await c.waitForState('ok')

    // Failover: kill a master, its replica takes over, the old master rejoins as a replica.
    const victim = masters[0]
    const key = await c.keyOn(victim)
    await c.kill(victim)
    t.notOk(alive(pids[c.nodes.findIndex((n) => n.port === victim)]), 'killed')
    const took = await c.waitForState('ok')
    const newMaster = await c.masterOf(key)
    t.not(newMaster, victim, `replica ${newMaster} took over in ${took} ms`)
    t.notOk((await c.masters()).includes(victim))
    await c.restart(victim)
    await c.waitForState('ok')
    t.ok((await c.replicas()).includes(victim), 'the old master is back as a replica')
    pids = [...c.nodes, ...secure.nodes].map((n) => n.process.pid)
    t.ok(pids.every(alive))
  })

  t.ok(cluster && secure, 'the clusters were started')
  t.equal(pids.length, 12)
  t.notOk(pids.some(alive), 'teardown left no redis-server process')
  t.notOk(existsSync(cluster!.nodes[0].dir), 'teardown removed the folder')
  t.notOk(existsSync(secure!.nodes[0].dir), 'teardown removed the TLS folder')
})
