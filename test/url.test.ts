import { test } from 'tap'
import { parseRedisUrl, redactUrl, UrlError } from '../lib/url'

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
    ['redis://:p%40ss%3Aw0rd@h', { tls: false, host: 'h', port: undefined, db: undefined, username: undefined, password: 'p@ss:w0rd' }],
    ['redis://us%20er:pw@h', { tls: false, host: 'h', port: undefined, db: undefined, username: 'us er', password: 'pw' }],
    ['redis://user@h', { tls: false, host: 'h', port: undefined, db: undefined, username: 'user', password: undefined }],
    ['unix:///tmp/r.sock', { tls: false, socketPath: '/tmp/r.sock', db: undefined, username: undefined, password: undefined }],
    ['unix:///tmp/r.sock?db=5', { tls: false, socketPath: '/tmp/r.sock', db: 5, username: undefined, password: undefined }],
    ['unix://:s3cret@/tmp/r.sock', { tls: false, socketPath: '/tmp/r.sock', db: undefined, username: undefined, password: 's3cret' }],
    ['unix://app:s3cret@/tmp/r.sock?db=1', { tls: false, socketPath: '/tmp/r.sock', db: 1, username: 'app', password: 's3cret' }]
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
    ['redis://:pw@h:abc', /port "abc" is not an integer/],
    ['redis://:pw@h:0', /port 0 is out of range/],
    ['redis://:pw@h:70000', /port 70000 is out of range/],
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
      t.notMatch((err as Error).message, /pw|%E0/, 'no secret in the message')
    }
  }
})

test('redactUrl masks the password and leaves the rest', async (t) => {
  t.equal(redactUrl('redis://user:secret@h:1/2'), 'redis://user:***@h:1/2')
  t.equal(redactUrl('redis://:secret@h'), 'redis://:***@h')
  t.equal(redactUrl('unix://u:secret@/tmp/s'), 'unix://u:***@/tmp/s')
  t.equal(redactUrl('redis://user@h'), 'redis://user@h')
  t.equal(redactUrl('redis://h:1'), 'redis://h:1')
})
