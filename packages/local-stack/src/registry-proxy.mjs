// The local registry's front door: HTTP basic authentication in front of Apicurio Registry,
// which listens on an internal loopback port. Apicurio 3.0 authenticates only through an OIDC
// server (its basic-auth option exchanges the credentials for a token there), which the local
// stack does not run, so this proxy does it: every principal of the stack may read; only the
// writers (admin, the services, the publisher) may register schemas or change compatibility.
//
// Usage: node registry-proxy.mjs <config.json>; the config (mode 0600, written by `stack up`)
// holds { listen: {host, port}, target: {host, port}, users: {name: sha256 hex of password},
// writers: [names] }. Without a file (docker-compose) it reads REGISTRY_PROXY_LISTEN and
// REGISTRY_PROXY_TARGET (host:port), REGISTRY_PROXY_USERS (JSON {name: password}) and
// REGISTRY_PROXY_WRITERS (comma-separated names). Plain JavaScript with no dependencies: it runs
// under any `node`.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, request } from "node:http";

function hostPort(v, name) {
  const [host, port] = String(v ?? "").split(":");
  if (!host || !Number.isInteger(Number(port))) throw new TypeError(`${name} must be host:port`);
  return { host, port: Number(port) };
}

function configFromEnv(env) {
  const users = JSON.parse(env.REGISTRY_PROXY_USERS ?? "{}");
  return {
    listen: hostPort(env.REGISTRY_PROXY_LISTEN, "REGISTRY_PROXY_LISTEN"),
    target: hostPort(env.REGISTRY_PROXY_TARGET, "REGISTRY_PROXY_TARGET"),
    users: Object.fromEntries(
      Object.entries(users).map(([name, password]) => [
        name,
        createHash("sha256").update(password).digest("hex"),
      ]),
    ),
    writers: (env.REGISTRY_PROXY_WRITERS ?? "").split(",").filter(Boolean),
  };
}

const config = process.argv[2]
  ? JSON.parse(readFileSync(process.argv[2], "utf8"))
  : configFromEnv(process.env);
const users = new Map(Object.entries(config.users).map(([name, hex]) => [name, Buffer.from(hex, "hex")]));
const writers = new Set(config.writers);
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The authenticated principal, or null; the password is compared by digest, in constant time. */
function principal(header) {
  if (typeof header !== "string" || !header.startsWith("Basic ")) return null;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const name = decoded.slice(0, colon);
  const want = users.get(name);
  if (want === undefined) return null;
  const got = createHash("sha256")
    .update(decoded.slice(colon + 1))
    .digest();
  return timingSafeEqual(got, want) ? name : null;
}

function refuse(res, status, message) {
  const body = JSON.stringify({ error_code: status, message });
  const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (status === 401) headers["www-authenticate"] = 'Basic realm="loyalty schema registry"';
  res.writeHead(status, headers);
  res.end(body);
}

const server = createServer((req, res) => {
  const who = principal(req.headers.authorization);
  if (who === null) return refuse(res, 401, "authentication required");
  if (!READ_METHODS.has(req.method ?? "GET") && !writers.has(who))
    return refuse(res, 403, `principal ${who} may not change the registry`);
  // The upstream registry has no use for the credentials.
  const { authorization: _credentials, ...headers } = req.headers;
  const upstream = request(
    { host: config.target.host, port: config.target.port, method: req.method, path: req.url, headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    if (!res.headersSent) refuse(res, 502, `registry unavailable: ${err.message}`);
    else res.destroy(err);
  });
  req.pipe(upstream);
});

server.listen(config.listen.port, config.listen.host);
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
