// The package as a user gets it: `npm pack`, then the tarball installed with
// npm into a throwaway application holding a CommonJS project and an ES
// module project, whose files are run with node and compiled with tsc under
// node16, nodenext and bundler resolution (skipLibCheck off, so the shipped
// declarations are checked too). @arethetypeswrong/cli checks the same
// tarball.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { test } from 'tap'
import { fullOnly } from './helpers/full'
import { startRedis, untracedEnv } from './helpers/redis'

const ROOT = resolve(__dirname, '..')
const TSC = require.resolve('typescript/bin/tsc')
const ATTW = join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare']

interface Result { code: number | null, stdout: string, stderr: string }

/** Runs a command to its end; tap's coverage and loaders stay out of it. */
async function run (file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  const childEnv = { ...untracedEnv(env), NODE_OPTIONS: '' }
  return await new Promise((resolve) => {
    execFile(file, args, { cwd, env: childEnv, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

function write (file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, text)
}

/** Every file under `dir`, relative to it, with forward slashes. */
function filesUnder (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort()
}

/** Every path string in an `exports` value, conditions included. */
function exportPaths (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap(exportPaths)
}

// The body every user file shares: the plugin registered under each import
// form, an augmented connection, and what must not compile.
const BODY = (fastifyRedis: string, name: string): string => `
declare module 'fastify-node-redis' {
  interface FastifyRedisConnections { ${name}: RedisClient }
}

declare const app: FastifyInstance

export async function main (): Promise<void> {
  await app.register(${fastifyRedis})
  await app.register(${fastifyRedis}, { prefix: 'CACHE', url: 'redis://localhost:6379/1', connectTimeout: '1000', lazyConnect: 'yes' })
  await app.register(named, { prefix: 'OTHER', port: 6380, db: '2', tls: true })
  const value: string | null = await app.redis.${name}.get('k')
  const options: FastifyNodeRedisOptions = { host: 'localhost', port: '6379' }
  const url: { type: string } = redisEnvSchema('cache').properties.CACHE_URL
  const code: 'FST_REDIS_CONFIG' = new FST_REDIS_CONFIG('x').code
  console.log(value, options, url, code)

  // @ts-expect-error a connection nobody declared does not compile
  console.log(app.redis.${name}x)
  // @ts-expect-error port is a number or a numeric string
  await app.register(${fastifyRedis}, { port: 'x' })
  // @ts-expect-error an unknown option does not compile
  await app.register(named, { urll: 'redis://localhost' })
  // @ts-expect-error replies are typed: GET gives string | null
  const wrong: number = await app.redis.${name}.get('k')
  console.log(wrong)
}
`

const CJS_USER = `import fastifyRedis = require('fastify-node-redis')
import defaultImport, { fastifyRedis as named, redisEnvSchema, FST_REDIS_CONFIG, type RedisClient, type FastifyNodeRedisOptions } from 'fastify-node-redis'
import type { FastifyInstance } from 'fastify'

export async function forms (): Promise<void> {
  await app.register(defaultImport)
  await app.register(fastifyRedis.default)
  await app.register(fastifyRedis.fastifyRedis, { prefix: 'NAMED' })
  const schema: typeof redisEnvSchema = fastifyRedis.redisEnvSchema
  console.log(schema)
}
${BODY('fastifyRedis', 'cjsCache')}`

const ESM_USER = `import fastifyRedis, { fastifyRedis as named, redisEnvSchema, FST_REDIS_CONFIG, type RedisClient, type FastifyNodeRedisOptions } from 'fastify-node-redis'
import type { FastifyInstance } from 'fastify'

${BODY('fastifyRedis', 'esmCache')}`

// Run with node from the installed package: require() and import give the
// plugin with its named exports, an unknown option is refused, and a real
// connection works. The Fastify instance logs nothing (the default logger is
// off) and no password is involved, so the secret guard has nothing to read.
const CJS_RUN = `const assert = require('node:assert')
const fastifyRedis = require('fastify-node-redis')
const { fastifyRedis: named, redisEnvSchema, errorCodes } = require('fastify-node-redis')
assert.equal(typeof fastifyRedis, 'function')
assert.equal(named, fastifyRedis)
assert.equal(fastifyRedis.default, fastifyRedis)
assert.equal(typeof redisEnvSchema, 'function')
assert.equal(typeof errorCodes.FST_REDIS_CONFIG, 'function')
async function main () {
  const refused = require('fastify')()
  refused.register(fastifyRedis, { urll: 'redis://localhost' })
  await assert.rejects(refused.ready(), { code: 'FST_REDIS_CONFIG', message: /did you mean "url"/ })
  const app = require('fastify')()
  await app.register(fastifyRedis, { port: Number(process.env.PORT) })
  assert.equal(await app.redis.redis.ping(), 'PONG')
  await app.close()
  console.log('cjs ok')
}
main().catch((err) => { console.error(err); process.exit(1) })
`

const ESM_RUN = `import assert from 'node:assert'
import fastify from 'fastify'
import fastifyRedis, { fastifyRedis as named, redisEnvSchema, errorCodes } from 'fastify-node-redis'
assert.equal(typeof fastifyRedis, 'function')
assert.equal(named, fastifyRedis)
assert.equal(typeof redisEnvSchema, 'function')
assert.equal(typeof errorCodes.FST_REDIS_CONFIG, 'function')
const app = fastify()
await app.register(named, { prefix: 'cache', port: process.env.PORT })
assert.equal(await app.redis.cache.ping(), 'PONG')
await app.close()
console.log('esm ok')
`

const TSCONFIG = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'preserve', moduleResolution: 'bundler' }
}

test('the packed package installs, runs and type-checks in CommonJS and ES module projects', { skip: fullOnly('the packed package') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fnr-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await startRedis(t)

  // prepack builds dist/ and strips the install-time scripts from package.json; postpack restores it.
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT)
  t.equal(packed.code, 0, `npm pack: ${packed.stderr}`)
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = join(dir, filename)
  t.notOk(existsSync(join(ROOT, '.package.json.orig')), 'postpack put package.json back')
  t.ok(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prepare, 'the repository keeps prepare (git installs)')

  await t.test('the file list: the build, the sources its maps name, the docs, nothing else', async (t) => {
    const sources = filesUnder(join(ROOT, 'lib')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3))
    const expected = [
      'package.json', 'README.md', 'CHANGELOG.md', 'LICENSE',
      ...(existsSync(join(ROOT, 'docs')) ? filesUnder(join(ROOT, 'docs')).map((f) => `docs/${f}`) : []),
      ...sources.map((s) => `lib/${s}.ts`),
      ...sources.flatMap((s) => [`dist/${s}.js`, `dist/${s}.js.map`, ...(s === 'index' ? [] : [`dist/${s}.d.ts.map`]), `dist/${s}.d.ts`]),
      'dist/public.d.ts', 'dist/public.d.ts.map'
    ].sort()
    t.same(files.map((f) => f.path).sort(), expected)
  })

  const extracted = join(dir, 'extracted')
  mkdirSync(extracted)
  t.equal((await run('tar', ['-xzf', tarball, '-C', extracted], dir)).code, 0)
  const pkg = join(extracted, 'package')
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'))

  await t.test('no install-time script; every path of main, types and exports exists', async (t) => {
    for (const name of INSTALL_SCRIPTS) t.notOk(manifest.scripts?.[name], `no ${name} script`)
    const paths = [manifest.main, manifest.types, ...exportPaths(manifest.exports)]
    t.ok(paths.length >= 5)
    for (const path of paths) t.ok(existsSync(join(pkg, path)), `${path} is shipped`)
  })

  await t.test('every source map and declaration map names shipped files', async (t) => {
    for (const file of filesUnder(join(pkg, 'dist'))) {
      const text = readFileSync(join(pkg, 'dist', file), 'utf8')
      if (file.endsWith('.map')) {
        const map = JSON.parse(text) as { file: string, sources: string[] }
        t.equal(map.file, basename(file.slice(0, -4)), `${file} maps ${map.file}`)
        for (const source of map.sources) t.ok(existsSync(join(pkg, 'dist', dirname(file), source)), `${file} → ${source}`)
      } else {
        const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1]
        if (file === 'index.d.ts') t.equal(url, undefined, 'the generated index.d.ts has no map')
        else t.ok(url !== undefined && existsSync(join(pkg, 'dist', dirname(file), url)), `${file} → ${url}`)
      }
    }
  })

  // An application with a CommonJS project and an ES module project; the
  // tarball is installed once, at the top, and both resolve it from there.
  const appDir = join(dir, 'app')
  write(join(appDir, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', private: true }))
  const installing = run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], appDir)
  // What follows runs side by side where it can: attw with npm install, node and tsc once the application is set up.
  const attwRun = run(process.execPath, [ATTW, tarball, '--format', 'json'], dir)
  await t.test('@arethetypeswrong/cli finds no problem', async (t) => {
    const attw = await attwRun
    const report = JSON.parse(attw.stdout) as { analysis: { problems: unknown[] } }
    t.same(report.analysis.problems, [], attw.stdout.slice(0, 2000))
    t.equal(attw.code, 0)
  })

  const installed = await installing
  await t.test('npm installs the tarball and runs no script of it', async (t) => {
    t.equal(installed.code, 0, installed.stderr)
    t.notMatch(installed.stderr, /install-scripts|prepare|fastify-node-redis@/, installed.stderr)
    t.ok(existsSync(join(appDir, 'node_modules', 'redis')), 'the redis peer is installed')
  })
  // Test tooling, not the package's dependencies: the application's fastify and Node types.
  symlinkSync(join(ROOT, 'node_modules', 'fastify'), join(appDir, 'node_modules', 'fastify'), 'dir')
  mkdirSync(join(appDir, 'node_modules', '@types'), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(appDir, 'node_modules', '@types', 'node'), 'dir')
  write(join(appDir, 'cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }))
  write(join(appDir, 'esm', 'package.json'), JSON.stringify({ type: 'module' }))
  write(join(appDir, 'cjs', 'user.ts'), CJS_USER)
  write(join(appDir, 'esm', 'user.ts'), ESM_USER)
  write(join(appDir, 'cjs', 'run.js'), CJS_RUN)
  write(join(appDir, 'esm', 'run.js'), ESM_RUN)

  const env = { PORT: String(server.port) }
  const runs = Promise.all([run(process.execPath, ['cjs/run.js'], appDir, env), run(process.execPath, ['esm/run.js'], appDir, env)])
  // skipLibCheck off: the shipped declarations (and those of fastify and
  // redis) are checked too; skipDefaultLibCheck only spares TypeScript's own lib.*.d.ts.
  // Two compilers at a time: the machine is shared with the other test files.
  const modes = Object.entries(TSCONFIG)
  const compile = async ([mode, options]: (typeof modes)[number]) => {
    const config = join(appDir, `tsconfig.${mode}.json`)
    write(config, JSON.stringify({
      compilerOptions: { ...options, target: 'es2022', lib: ['es2022'], types: ['node'], strict: true, skipLibCheck: false, skipDefaultLibCheck: true, noEmit: true },
      files: ['cjs/user.ts', 'esm/user.ts']
    }))
    return [mode, await run(process.execPath, [TSC, '-p', config], appDir)] as const
  }
  const compiles = Promise.all([compile(modes[0]), compile(modes[1]).then(async (second) => [second, await compile(modes[2])])])
    .then(([first, rest]) => [first, ...rest])

  await t.test('require() and import work, and the plugin connects', async (t) => {
    const [cjs, esm] = await runs
    t.match(cjs, { code: 0, stdout: 'cjs ok\n' }, cjs.stderr)
    t.match(esm, { code: 0, stdout: 'esm ok\n' }, esm.stderr)
  })

  await t.test('a user\'s files compile under node16, nodenext and bundler, as CommonJS and as ES module', async (t) => {
    for (const [mode, result] of await compiles) t.match(result, { code: 0, stdout: '' }, `${mode}: ${result.stdout}`)
  })
})
