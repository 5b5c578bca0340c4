// Found by `npm run chaos` (seed 2): the example app on a cluster answered
// 500 (EXECABORT) on every PUT and GET of some things for seconds on end.
// Its routes use MULTI only. After a failover in which the old master stays
// up (CLUSTER FAILOVER here; in the chaos run, a paused or killed master back
// as a replica before the plugin noticed), node-redis v4's slot map still
// routes those slots to the old master: every queued command gets MOVED, EXEC
// answers EXECABORT, and node-redis rediscovers the topology only on a MOVED
// answer to a single command, never on EXECABORT. The plugin's maintain()
// provokes a rediscovery only while a master of the map is not ready, and
// the old master is ready. So a MULTI-only workload fails until a single
// command happens to go there.
import { test } from 'tap'
import fastifyRedis from 'fastify-node-redis'
import { startCluster } from './helpers/cluster'
import { eventually, testApp } from './helpers/app'

test('MULTI works again soon after a failover that leaves the old master up', async (t) => {
  const cluster = await startCluster(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { clusterNodes: cluster.rootUrls })
  const redis = (app.redis as unknown as { redis: { multi (): any } }).redis
  const [master] = await cluster.masters()
  const key = await cluster.keyOn(master, 'multi')
  t.same(await redis.multi().set(key, '1').get(key).exec(), ['OK', '1'], 'MULTI on the master\'s slots')

  const view = await cluster.topology()
  const replica = view.find((n) => n.role === 'replica' && n.masterId === view.find((m) => m.port === master)?.id)!
  await cluster.command(replica.port, 'CLUSTER', 'FAILOVER')
  await eventually(async () => !(await cluster.masters()).includes(master), 10000)
  await cluster.waitForState('ok')

  const multi = async (): Promise<boolean> => (await redis.multi().set(key, '2').get(key).exec())[1] === '2'
  const took = await eventually(multi, 3000, 100).catch(() => -1)
  t.ok(took >= 0, `MULTI on the moved slots answers again within 3 s of the failover (took ${took} ms)`)
})
