import Fastify from 'fastify'
import fastifyRedis from 'fastify-node-redis'
import { spawn } from 'node:child_process'
const port = 17006
const srv = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'], { stdio: 'ignore' })
setTimeout(async () => {
  const app = Fastify({ logger: { level: 'warn' } })
  await app.register(fastifyRedis, { port, commandTimeout: 1000 })
  const client = (app.redis as any).redis
  const ping = client.ping
  const t0 = Date.now()
  let armed = false
  let victim: any
  client.ping = function (...args: unknown[]) {
    const answer = ping.apply(this, args)
    const at = Date.now() - t0
    answer.then(() => console.log('ping sent', at, 'answered', Date.now() - t0), () => console.log('ping sent', at, 'rejected', Date.now() - t0))
    if (armed && victim === undefined) {
      victim = client.sendCommand(['DEBUG', 'SLEEP', '3']).then(() => console.log('victim ok'), () => console.log('victim rejected', Date.now() - t0, 'sent', at))
    }
    return answer
  }
  const busy = client.sendCommand(['DEBUG', 'SLEEP', '0.9'])
  armed = true
  await busy
  console.log('busy done', Date.now() - t0)
  await new Promise(r => setTimeout(r, 3500))
  await app.close()
  srv.kill('SIGKILL'); process.exit(0)
}, 300)
