// The test command's closing report (plain Node, no dependencies): reads the JSON report that
// every package's vitest wrote (vitest.shared.ts, LOYALTY_TEST_REPORTS) and prints one closing
// line over all of them, counting a test file that failed to load, or whose hooks failed, as a
// failure of its own; a package with a test script that wrote no report counts as failed too.
// Then it looks for processes the tests started and left running (they carry LOYALTY_TEST_RUN in
// their environment), kills them and fails the run.
//   node infra/bin/test-report.mjs
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

// LOYALTY_TEST_ROOT: the workspace to report on (its own tests point it at a made-up one).
const root = process.env.LOYALTY_TEST_ROOT ?? new URL("../..", import.meta.url).pathname;
const reportsDir = process.env.LOYALTY_TEST_REPORTS;
const runId = process.env.LOYALTY_TEST_RUN;
if (!reportsDir || !runId) {
  console.error(
    "test-report: LOYALTY_TEST_REPORTS and LOYALTY_TEST_RUN must be set (infra/bin/test sets them)",
  );
  process.exit(2);
}

/**
 * The package folders pnpm-workspace.yaml names ("group/*" or "group/name"; plain Node, so a
 * line-wise read of its `- "..."` entries), or apps, packages and services when there is none.
 */
function workspaceDirs() {
  const file = join(root, "pnpm-workspace.yaml");
  const globs = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .map((l) => /^\s*-\s*["']?([^"'#\s]+)["']?/.exec(l)?.[1])
        .filter((g) => g !== undefined)
    : ["apps/*", "packages/*", "services/*"];
  const dirs = [];
  for (const g of globs) {
    if (!g.endsWith("/*")) {
      dirs.push(g);
      continue;
    }
    const parent = g.slice(0, -2);
    if (existsSync(join(root, parent)))
      for (const name of readdirSync(join(root, parent))) dirs.push(`${parent}/${name}`);
  }
  return dirs;
}

/** The workspace packages that have a test script, as the report names them. */
function testedPackages() {
  const out = [];
  for (const dir of workspaceDirs()) {
    const manifest = join(root, dir, "package.json");
    if (!existsSync(manifest)) continue;
    if (JSON.parse(readFileSync(manifest, "utf8")).scripts?.test) out.push(dir);
  }
  return out.sort();
}

let passed = 0;
let failed = 0;
/** The first non-blank line of a message, cut to 400 characters. */
const firstLine = (message) =>
  (
    String(message ?? "")
      .split("\n")
      .find((l) => l.trim() !== "") ?? "(no message)"
  ).slice(0, 400);
let skipped = 0;
const problems = [];
for (const pkg of testedPackages()) {
  const file = join(reportsDir, `${pkg.replaceAll("/", "__")}.json`);
  if (!existsSync(file)) {
    failed += 1;
    problems.push(`${pkg}: wrote no test report (vitest did not run or crashed): counted as 1 failed`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, "utf8"));
  if (report.testResults.length === 0) {
    failed += 1;
    problems.push(`${pkg}: ran no test file: counted as 1 failed`);
  }
  for (const f of report.testResults) {
    const where = relative(root, f.name);
    let failedHere = 0;
    const why = [];
    for (const a of f.assertionResults) {
      if (a.status === "passed") passed += 1;
      else if (a.status === "failed") {
        failed += 1;
        failedHere += 1;
        // CI keeps only the tail of the log: the first line of each failure goes in it.
        why.push(`  ${a.fullName ?? a.title}: ${firstLine((a.failureMessages ?? [])[0])}`);
      } else skipped += 1;
    }
    if (f.status === "failed" && failedHere === 0) {
      // Failed to load (import error, syntax) or a beforeAll/afterAll failed: no test says so.
      failed += 1;
      problems.push(`${where}: the file failed outside its tests: ${firstLine(f.message)}`);
    } else if (failedHere > 0) {
      problems.push(`${where}: ${failedHere} failed`, ...why);
    }
  }
}

// Processes the tests left behind: not this process nor its ancestors (they carry the marker
// only if exported above the test run), not the local stack's daemons (tracked by pid files).
const ancestors = new Set();
for (let pid = process.pid; pid > 1; ) {
  ancestors.add(pid);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}
const stackDir = process.env.LOYALTY_STACK_DIR ?? join(root, ".stack");
const daemons = new Set(
  existsSync(stackDir)
    ? readdirSync(stackDir)
        .filter((f) => f.endsWith(".pid"))
        .map((f) => Number(readFileSync(join(stackDir, f), "utf8").trim()))
    : [],
);
const left = [];
for (const entry of readdirSync("/proc")) {
  const pid = Number(entry);
  if (!Number.isInteger(pid) || ancestors.has(pid) || daemons.has(pid)) continue;
  let environ;
  let cmdline;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\0", " ").trim();
  } catch {
    continue; // gone, or not ours to read
  }
  if (!environ.split("\0").includes(`LOYALTY_TEST_RUN=${runId}`)) continue;
  left.push({ pid, cmdline });
}
for (const p of left) {
  try {
    process.kill(p.pid, "SIGKILL");
  } catch {
    // exited meanwhile
  }
  problems.push(`process ${p.pid} was left running by the tests (killed): ${p.cmdline.slice(0, 160)}`);
}
if (left.length > 0) failed += 1;

if (problems.length > 0) console.log(`\n${problems.join("\n")}`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
