/**
 * The two slowest checks, about a third of the suite's CPU time: the packed
 * package installed and compiled as a user's project would (test/pack.test.ts)
 * and a short chaos run (test/chaos.test.ts). `npm test` skips them so that it
 * stays under two minutes; `npm run test:full` and `.ci/run` (on every major
 * and Node.js) run them.
 */
export function fullOnly (what: string): false | string {
  return process.env.FNR_FULL_TESTS === '1' ? false : `${what}: npm run test:full and CI run it`
}
