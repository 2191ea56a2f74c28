import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { RuntimeMetrics } from "./metrics.ts";

/** /healthz (200 when the service says it is healthy, else 503) and Prometheus /metrics. */
export async function startOpsServer(
  port: number,
  metrics: RuntimeMetrics,
  healthy: () => boolean,
  host = "127.0.0.1",
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (req.url === "/healthz") {
      const ok = healthy();
      res
        .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ status: ok ? "ok" : "unavailable" }));
      return;
    }
    if (req.url === "/metrics") {
      metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body))
        .catch((err: Error) => res.writeHead(500).end(err.message));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
