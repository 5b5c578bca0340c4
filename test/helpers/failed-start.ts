// Registers the plugin against a URL that cannot start, reports the error and
// does NOT close anything: the process must still exit by itself.
import Fastify from 'fastify'
import fastifyRedis from 'fastify-node-redis'
import { guardedLogger } from './secret-guard'

const app = Fastify({ logger: guardedLogger() })
app.register(fastifyRedis, { url: process.argv[2], connectTimeout: 500 })
Promise.resolve(app.ready()).catch((err: Error & { code?: string }) => {
  console.log(err.code, err.message)
})
