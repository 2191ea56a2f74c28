// Load generator for `pnpm bench:api`, run as its own process (so the API's event loop and the
// client's do not share a CPU thread). N concurrent keep-alive connections fire requests until
// the count or the time bound is reached (closed loop); with `rate`, requests are offered at that
// many per second whatever the answers (open loop: latency counted from each request's scheduled
// time). Then one JSON line of results goes to stdout.
import { Agent, request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

interface Job {
  base: string;
  key: string;
  /** livez: GET /livez on the same server (no key, no database): the HTTP ceiling of the run. */
  scenario: "livez" | "balance" | "redeem" | "redeem-hot";
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  members: string[];
  runId: string;
  /** Requests per second offered (open loop); absent: closed loop with `concurrency` workers. */
  rate?: number;
}

const job = JSON.parse(process.env.LOAD_JOB ?? "{}") as Job;
const url = new URL(job.base);
if (url.hostname !== "127.0.0.1") throw new Error("the load generator only targets 127.0.0.1");
const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });

function fire(
  method: string,
  path: string,
  body: string | null,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${job.key}`,
          ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

const latencies: number[] = [];
const statuses = new Map<number, number>();
let issued = 0;
const started = performance.now();
const deadline = started + job.durationMs;

async function one(i: number, w: number, t0: number): Promise<void> {
  const member =
    job.scenario === "redeem-hot" ? job.members[0] : job.members[(i * 7919 + w) % job.members.length];
  let status = 0;
  try {
    status =
      job.scenario === "livez"
        ? await fire("GET", "/livez", null, {})
        : job.scenario === "balance"
          ? await fire("GET", `/v1/members/${member}`, null, {})
          : await fire("POST", `/v1/members/${member}/redemptions`, JSON.stringify({ points: 1 }), {
              "idempotency-key": `${job.runId}-${job.scenario}-${job.concurrency}-${i}`,
            });
  } catch {
    status = -1;
  }
  latencies.push(performance.now() - t0);
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
}

async function worker(w: number): Promise<void> {
  while (performance.now() < deadline && issued < job.maxRequests) await one(issued++, w, performance.now());
}

if (job.rate !== undefined) {
  const interval = 1000 / job.rate;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < job.maxRequests; i++) {
    const at = started + i * interval;
    if (at >= deadline) break;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(one(i, 0, at));
  }
  await Promise.all(inflight);
} else await Promise.all(Array.from({ length: job.concurrency }, (_, w) => worker(w)));
const elapsed = performance.now() - started;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    seconds: elapsed / 1000,
    rps: latencies.length / (elapsed / 1000),
    p50: q(0.5),
    p99: q(0.99),
    max: latencies[latencies.length - 1] ?? 0,
    statuses: Object.fromEntries(statuses),
  })}\n`,
);
agent.destroy();
