import { test } from 'tap'
import { parseRedisUrl, redactUrl, UrlError } from '../lib/url'
import { checkError, secret } from './helpers/secret-guard'

// The passwords of this file, registered with the suite's secret guard.
const PW = secret('url-Pa55word')
const ENCODED = secret('p@ss:w0rd')

test('parses every supported URL form', async (t) => {
  const cases: Array<[string, ReturnType<typeof parseRedisUrl>]> = [
    ['redis://localhost', { tls: false, host: 'localhost', port: undefined, db: undefined, username: undefined, password: undefined }],
    ['redis://', { tls: false, host: undefined, port: undefined, db: undefined, username: undefined, password: undefined }],
    ['redis://h:6380/2', { tls: false, host: 'h', port: 6380, db: 2, username: undefined, password: undefined }],
    ['REDIS://h:6380/2', { tls: false, host: 'h', port: 6380, db: 2, username: undefined, password: undefined }],
    ['rediss://h', { tls: true, host: 'h', port: undefined, db: undefined, username: undefined, password: undefined }],
    ['redis://h/3/', { tls: false, host: 'h', port: undefined, db: 3, username: undefined, password: undefined }],
    ['redis://h/3///', { tls: false, host: 'h', port: undefined, db: 3, username: undefined, password: undefined }],
    ['redis://h/', { tls: false, host: 'h', port: undefined, db: undefined, username: undefined, password: undefined }],
    ['redis://h?db=4', { tls: false, host: 'h', port: undefined, db: 4, username: undefined, password: undefined }],
    ['redis://h/?db=4&', { tls: false, host: 'h', port: undefined, db: 4, username: undefined, password: undefined }],
    ['redis://h/4?db=4', { tls: false, host: 'h', port: undefined, db: 4, username: undefined, password: undefined }],
    ['redis://[::1]:6380/1', { tls: false, host: '::1', port: 6380, db: 1, username: undefined, password: undefined }],
    [`redis://:${encodeURIComponent(ENCODED)}@h`, { tls: false, host: 'h', port: undefined, db: undefined, username: undefined, password: ENCODED }],
    [`redis://us%20er:${PW}@h`, { tls: false, host: 'h', port: undefined, db: undefined, username: 'us er', password: PW }],
    ['redis://user@h', { tls: false, host: 'h', port: undefined, db: undefined, username: 'user', password: undefined }],
    ['unix:///tmp/r.sock', { tls: false, socketPath: '/tmp/r.sock', db: undefined, username: undefined, password: undefined }],
    ['unix:///tmp/r.sock?db=5', { tls: false, socketPath: '/tmp/r.sock', db: 5, username: undefined, password: undefined }],
    [`unix://:${PW}@/tmp/r.sock`, { tls: false, socketPath: '/tmp/r.sock', db: undefined, username: undefined, password: PW }],
    [`unix://app:${PW}@/tmp/r.sock?db=1`, { tls: false, socketPath: '/tmp/r.sock', db: 1, username: 'app', password: PW }]
  ]
  for (const [url, expected] of cases) {
    t.same(parseRedisUrl(url), expected, url)
  }
})

test('rejects malformed URLs with a reason and never the password', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['http://h', /scheme "http:" is not supported/],
    ['h:6379', /scheme "h:" is not supported/],
    ['localhost', /is not of the form/],
    [`redis://:${PW}@h:abc`, /port "abc" is not an integer/],
    [`redis://:${PW}@h:0`, /port 0 is out of range/],
    [`redis://:${PW}@h:70000`, /port 70000 is out of range/],
    ['redis://h/x', /path "\/x" is not a database number/],
    ['redis://h/-1', /path "\/-1" is not a database number/],
    ['redis://h?db=x', /db "x" is not an integer/],
    ['redis://h?db=-1', /db "-1" is not an integer/],
    ['redis://h?family=6', /query parameter "family" is not supported/],
    ['redis://h?tls', /query parameter "tls" is not supported/],
    ['redis://h?db', /db "" is not an integer/],
    ['redis://h/1?db=2', /two databases/],
    ['redis://[zz]:1', /\[zz\] is not an IPv6 address/],
    ['redis://:%E0%A4%A@h', /password is not valid percent-encoding/],
    ['unix://relative.sock', /is not of the form/]
  ]
  for (const [url, message] of cases) {
    t.throws(() => parseRedisUrl(url), message, url)
    try {
      parseRedisUrl(url)
    } catch (err) {
      t.ok(err instanceof UrlError)
      checkError(err)
      t.notMatch((err as Error).message, /%E0/, 'no undecodable password in the message')
    }
  }
})

test('redactUrl masks the password and leaves the rest', async (t) => {
  t.equal(redactUrl(`redis://user:${PW}@h:1/2`), 'redis://user:***@h:1/2')
  t.equal(redactUrl(`redis://:${PW}@h`), 'redis://:***@h')
  t.equal(redactUrl(`unix://u:${PW}@/tmp/s`), 'unix://u:***@/tmp/s')
  t.equal(redactUrl('redis://user@h'), 'redis://user@h')
  t.equal(redactUrl('redis://h:1'), 'redis://h:1')
})

test('a refused query parameter says what to use instead; two databases must agree', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['redis://h?client_name=api', /query parameter "client_name" is not supported \(the only one is db\): use option clientOptions\.name$/],
    ['redis://h?socket_timeout=5', /"socket_timeout" .*: use option commandTimeout \(a stalled command\) or clientOptions\.socket/],
    ['redis://h?socket_connect_timeout=5', /use option connectTimeout$/],
    [`redis://h?password=${PW}`, /"password" .*: use the URL's user info/],
    ['redis://h?ssl=true', /use a rediss:\/\/ URL, or option tls/],
    ['redis://h?health_check_interval=30', /use option clientOptions\.pingInterval/],
    ['redis://h?whatever=1', /"whatever" is not supported \(the only one is db\): use the plugin's options or clientOptions/],
    ['redis://h/2?db=3', /it names two databases \(\/2 and \?db=3\): give the database once, in the path or as \?db=/]
  ]
  for (const [url, message] of cases) {
    t.throws(() => parseRedisUrl(url), { message }, redactUrl(url))
    try {
      parseRedisUrl(url)
    } catch (err) {
      checkError(err)
    }
  }
  t.equal(parseRedisUrl('redis://h/2?db=2').db, 2, 'the same database twice is one database')
})
