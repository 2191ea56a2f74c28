// Load generator for `pnpm bench:api`, run as its own process (so the API's event loop and the
// client's do not share a CPU thread). N concurrent keep-alive connections fire requests until
// the count or the time bound is reached, then one JSON line of results goes to stdout.
import { Agent, request } from "node:http";

interface Job {
  base: string;
  key: string;
  scenario: "balance" | "redeem" | "redeem-hot";
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  members: string[];
  runId: string;
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

async function worker(w: number): Promise<void> {
  while (performance.now() < deadline && issued < job.maxRequests) {
    const i = issued++;
    const member =
      job.scenario === "redeem-hot" ? job.members[0] : job.members[(i * 7919 + w) % job.members.length];
    const t0 = performance.now();
    let status = 0;
    try {
      status =
        job.scenario === "balance"
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
}

await Promise.all(Array.from({ length: job.concurrency }, (_, w) => worker(w)));
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
