import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A detached daemon tracked by a pid file; the marker guards against a recycled pid. */
export interface Daemon {
  name: string;
  marker: string;
  command: string;
  args: string[];
}

function pidFile(stateDir: string, name: string): string {
  return join(stateDir, `${name}.pid`);
}

export function runningPid(stateDir: string, d: Daemon): number | null {
  const file = pidFile(stateDir, d.name);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(d.marker) ? pid : null;
  } catch {
    return null;
  }
}

export function startDaemon(stateDir: string, logDir: string, d: Daemon): number {
  mkdirSync(logDir, { recursive: true });
  const log = openSync(join(logDir, `${d.name}.log`), "a");
  const child = spawn(d.command, d.args, { detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${d.name}: ${d.command}`);
  child.unref();
  writeFileSync(pidFile(stateDir, d.name), String(child.pid));
  return child.pid;
}

export async function stopDaemon(stateDir: string, d: Daemon, graceMs = 20_000): Promise<boolean> {
  const pid = runningPid(stateDir, d);
  if (pid === null) return false;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && runningPid(stateDir, d) !== null) await sleep(200);
  if (runningPid(stateDir, d) !== null) process.kill(pid, "SIGKILL");
  rmSync(pidFile(stateDir, d.name), { force: true });
  return true;
}

/** Cross-process lock so that parallel `stack up` calls do not race each other. */
export async function withLock<T>(stateDir: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  const lock = join(stateDir, "lock");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "owner"), String(process.pid));
      break;
    } catch {
      const owner = Number(readFileSync(join(lock, "owner"), { encoding: "utf8", flag: "a+" }) || "0");
      if (owner > 0 && !existsSync(`/proc/${owner}`)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for the stack lock ${lock}`);
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
