// Every code block of README.md and docs/*.md, checked as a user would meet
// it: TypeScript and JavaScript blocks compiled against the package as it is
// installed (the build of lib/ with this package.json, in a temporary
// project's node_modules), as an ES module under nodenext; the quick start,
// and its CommonJS variant, run against a test redis-server, with the curl
// transcript after them replayed. Markers (an HTML comment on the line
// before a block) say what a block is; see CONTRIBUTING.md.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { test } from 'tap'
import ts from 'typescript'
import { REDIS_MAJOR } from './helpers/major'
import { freePort, startRedis, untracedEnv } from './helpers/redis'
import { checkText } from './helpers/secret-guard'
import { matchesTranscript, transcript } from './helpers/transcript'

const ROOT = resolve(__dirname, '..')
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]

export interface Block {
  /** `README.md:42`: where the block starts. */
  where: string
  lang: 'ts' | 'js'
  kind: 'module' | 'fragment' | 'commonjs' | 'file'
  /** With `file`: the repository file the block must equal. */
  path?: string
  code: string
}

/** The ts and js blocks of a Markdown file, with the marker on the line before each. */
export function codeBlocks (markdown: string, file: string): Block[] {
  const found: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i])
    if (open === null) continue
    const end = lines.indexOf('```', i + 1)
    const lang = open[1]
    if (lang === 'ts' || lang === 'js') {
      const marker = /^<!-- (fragment|commonjs|file: (\S+)) -->$/.exec(lines[i - 1] ?? '')
      const kind = marker === null ? 'module' : marker[1].startsWith('file:') ? 'file' : marker[1] as Block['kind']
      found.push({ where: `${file}:${i + 1}`, lang, kind, path: marker?.[2], code: lines.slice(i + 1, end).join('\n') + '\n' })
    }
    i = end
  }
  return found
}

/**
 * What a fragment is compiled after: the context the surrounding prose
 * assumes. Exported, so that a fragment that does not use them compiles
 * under noUnusedLocals too.
 */
const PREAMBLE = [
  "import type { FastifyInstance } from 'fastify'",
  "import fastifyRedis, { type RedisClient } from 'fastify-node-redis'",
  'declare const app: FastifyInstance',
  'declare const password: string',
  'export { fastifyRedis, type RedisClient }',
  ''
].join('\n')

/** A project in a temporary folder whose node_modules holds this package as a user installs it. */
function userProject (): string {
  const dir = mkdtempSync(join(tmpdir(), 'fnr-docs-'))
  const modules = join(dir, 'node_modules')
  mkdirSync(modules)
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry !== 'fastify-node-redis') symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry))
  }
  const pkg = join(modules, 'fastify-node-redis')
  mkdirSync(pkg)
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'))
  // Coverage is not recorded for the build: .ci/build.js is a tool, not the package.
  const build = spawnSync(process.execPath, [join(ROOT, '.ci', 'build.js'), join(pkg, 'dist')], { encoding: 'utf8', env: untracedEnv() })
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
  mkdirSync(join(dir, 'cjs'))
  writeFileSync(join(dir, 'cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }))
  return dir
}

const OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  strict: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  skipLibCheck: true,
  allowJs: true,
  noEmit: true
}

/**
 * Compiles files of the project together, as one program; the type errors
 * of each. (A program per block would be cleaner and take 2 s a block.)
 */
function compiler (): (files: string[], options: ts.CompilerOptions) => Map<string, string[]> {
  // Declarations of node_modules are parsed once for all the programs.
  const cache = new Map<string, ts.SourceFile | undefined>()
  const host = ts.createCompilerHost(OPTIONS)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, version, onError, create) => {
    if (!name.includes('node_modules')) return getSourceFile(name, version, onError, create)
    if (!cache.has(name)) cache.set(name, getSourceFile(name, version, onError, create))
    return cache.get(name)
  }
  return (files, options) => {
    const program = ts.createProgram({ rootNames: files, options: { ...OPTIONS, ...options }, host })
    const errors = new Map<string, string[]>(files.map((file) => [file, []]))
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const at = d.file !== undefined && d.start !== undefined ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : ''
      const text = `${at}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
      const list = errors.get(d.file?.fileName ?? '') ?? errors.get(files[0])!
      list.push(text)
    }
    return errors
  }
}

/**
 * The published declarations type a default import of this CommonJS package
 * as the module object under nodenext (issue 11 fixes them): such errors are
 * reported as a todo, not a failure, until then.
 */
function defaultImportIssue (errors: string[]): boolean {
  return errors.length > 0 && errors.every((e) => /typeof import\("[^"]*fastify-node-redis\/dist\/index"\)/.test(e))
}

const project = userProject()
process.on('exit', () => rmSync(project, { recursive: true, force: true }))
const compile = compiler()

/**
 * Which program a block is compiled in. The quick start alone: it must not
 * lean on another block's declarations. docs/cluster.md apart: it types
 * `cache` as a cluster, where the README's blocks type it as a client.
 * docs/pools.md and docs/sentinel.md apart: client pools and the Sentinel
 * client are node-redis 5's and later (on 4, `RedisClientPool` and
 * `RedisSentinel` are never), so their blocks compile on those only. All the
 * other blocks together.
 */
function programOf (block: Block, quickStart: boolean): string {
  if (quickStart) return 'quick start'
  if (block.where.startsWith('docs/pools.md')) return 'pools'
  if (block.where.startsWith('docs/sentinel.md')) return 'sentinel'
  return block.where.startsWith('docs/cluster.md') ? 'cluster' : 'the rest'
}

test('every ts and js block of the README and docs/ compiles against the package, as a user\'s ES module under nodenext', async (t) => {
  let n = 0
  const programs = new Map<string, Array<{ path: string, where: string }>>()
  for (const file of DOCS) {
    let first = file === 'README.md'
    for (const block of codeBlocks(readFileSync(join(ROOT, file), 'utf8'), file)) {
      n++
      if (block.kind === 'file') {
        t.equal(block.code, readFileSync(join(ROOT, block.path!), 'utf8'), `${block.where}: the block is ${block.path}, verbatim`)
        continue
      }
      const ext = block.kind === 'commonjs' ? (block.lang === 'ts' ? 'cts' : 'cjs') : (block.lang === 'ts' ? 'ts' : 'mjs')
      // A CommonJS block is a CommonJS project's file (and is run below).
      const path = join(project, block.kind === 'commonjs' ? 'cjs' : '', `block-${n}.${ext}`)
      writeFileSync(path, block.kind === 'fragment' ? PREAMBLE + block.code : block.code)
      const program = programOf(block, first && block.kind === 'module')
      if (block.kind === 'module') first = false
      programs.set(program, [...programs.get(program) ?? [], { path, where: block.where }])
    }
  }
  t.strictSame([...programs.keys()].sort(), ['cluster', 'pools', 'quick start', 'sentinel', 'the rest'])
  for (const [program, files] of programs) {
    if ((program === 'pools' || program === 'sentinel') && REDIS_MAJOR < 5) {
      t.pass(`${files.map((f) => f.where).join(', ')} compile`, { skip: `${program === 'pools' ? 'client pools need' : 'Sentinel needs'} node-redis 5 or later (.ci/run compiles them there)` })
      continue
    }
    const errors = compile(files.map((f) => f.path), {})
    for (const { path, where } of files) {
      const found = errors.get(path)!
      if (defaultImportIssue(found)) {
        t.fail(`${where} compiles`, { todo: 'the default import under nodenext needs the declarations of issue 11', diagnostic: false })
      } else {
        t.strictSame(found, [], `${where} compiles`)
      }
    }
  }
  t.ok(n >= 15, `${n} blocks`)
})

test('the README\'s quick start runs as pasted (npx tsx app.ts), as does its CommonJS variant (node app.js), and answers as its transcript says', async (t) => {
  const redis = await startRedis(t)
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const blocks = codeBlocks(readme, 'README.md')
  const quick = blocks.find((b) => b.kind === 'module' && b.code.includes('/hits') && b.code.includes('app.listen'))!
  const commonjs = blocks.find((b) => b.kind === 'commonjs')!
  const steps = transcript(readme)
  t.ok(steps.length >= 2, 'a transcript follows the quick start')
  // The test's own server and a free port in place of localhost:6379 and 3000: never anyone else's Redis.
  const local = (code: string, port: number): string => code
    .replace("'redis://localhost:6379/0'", `'redis://127.0.0.1:${redis.port}/0'`)
    .replace('port: 3000', `port: ${port}`)
  const runs = [
    { name: 'ES module', dir: project, file: 'app.ts', code: quick.code, command: ['npx', 'tsx', 'app.ts'], db: '0' },
    { name: 'CommonJS', dir: join(project, 'cjs'), file: 'app.js', code: commonjs.code, command: [process.execPath, 'app.js'], db: '1' }
  ]
  for (const run of runs) {
    const port = await freePort()
    t.not(local(run.code, port), run.code, `${run.name}: the Redis URL and the port are the ones the README says`)
    writeFileSync(join(run.dir, run.file), local(run.code, port).replace(`127.0.0.1:${redis.port}/0`, `127.0.0.1:${redis.port}/${run.db}`))
    // A process group of its own: npx runs tsx, which runs node.
    const child = spawn(run.command[0], run.command.slice(1), { cwd: run.dir, env: untracedEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const stop = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }
    t.teardown(stop)
    let output = ''
    const listening = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk
        if (output.includes('Server listening at')) resolve()
      })
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
      child.once('exit', (code) => reject(new Error(`${run.name}: exited (${code}) before listening:\n${output}`)))
    })
    await listening
    for (const step of steps) {
      const out = await curl(step.command.replace('localhost:3000', `127.0.0.1:${port}`))
      t.ok(matchesTranscript(out, step.expected), `${run.name}: $ ${step.command} -> ${out}`)
    }
    stop()
    checkText(output, `output of the ${run.name} quick start`)
  }
})

/** GitHub's anchor of a heading. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

test('every relative link of the README, CONTRIBUTING.md and docs/ leads to a file and a heading that exist', async (t) => {
  const pages = [...DOCS, 'CONTRIBUTING.md']
  const anchors = new Map<string, Set<string>>()
  const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8')
  const anchorsOf = (page: string): Set<string> => {
    if (!anchors.has(page)) {
      const text = read(page).replace(/```[\s\S]*?```/g, '')
      anchors.set(page, new Set([...text.matchAll(/^#+ (.+)$/gm)].map(([, heading]) => slug(heading))))
    }
    return anchors.get(page)!
  }
  for (const page of pages) {
    const text = read(page).replace(/```[\s\S]*?```/g, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue
      const [file, hash] = target.split('#')
      const linked = file === '' ? page : join(dirname(page), file).replace(/\\/g, '/')
      t.ok(existsSync(join(ROOT, linked)), `${page}: ${target}: ${linked} exists`)
      if (hash !== undefined && linked.endsWith('.md')) t.ok(anchorsOf(linked).has(hash), `${page}: ${target}: #${hash} is a heading of ${linked}`)
    }
  }
})

test('transcripts: commands and their expected output, matched in order with … as a wildcard', async (t) => {
  const steps = transcript('<!-- transcript -->\n```sh\n$ curl -X PUT a \\\n    -d b\nHTTP/1.1 201 Created\n{"a":…}\n$ curl c\n```\n')
  t.strictSame(steps, [{ command: 'curl -X PUT a -d b', expected: ['HTTP/1.1 201 Created', '{"a":…}'] }, { command: 'curl c', expected: [] }])
  t.ok(matchesTranscript('HTTP/1.1 201 Created\r\ndate: x\r\n\r\n{"a":1}', steps[0].expected))
  t.notOk(matchesTranscript('{"a":1}\nHTTP/1.1 201 Created', steps[0].expected), 'in order')
  t.notOk(matchesTranscript('HTTP/1.1 201 Created\n{"b":1}', steps[0].expected))
  t.strictSame(codeBlocks('text\n<!-- fragment -->\n```ts\nx\n```\n```sh\ny\n```\n```js\nz\n```\n', 'f.md').map((b) => [b.where, b.kind, b.code]),
    [['f.md:3', 'fragment', 'x\n'], ['f.md:9', 'module', 'z\n']])
})

async function curl (command: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    child.on('close', (code) => { code === 0 ? resolve(out) : reject(new Error(`${command}: exit ${code}`)) })
  })
}
