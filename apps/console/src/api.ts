// The console's only way to the member API: same-origin requests (server/serve.ts forwards /v1/*
// to the API), the key as a Bearer token. The key lives in sessionStorage: it is gone when the
// tab closes, and is never written anywhere else.

const STORAGE = "loyalty-console-key";

export interface Session {
  key: string;
  keyId: string;
  scopes: string[];
}

/** An answer the API refused, with its error code and the field it names. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "ApiFailure";
  }

  /** 401s and 403s are the key's fault; 429 and 5xx may pass. */
  get retriable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

export const savedKey = (): string | null => sessionStorage.getItem(STORAGE);
export const saveKey = (key: string) => sessionStorage.setItem(STORAGE, key);
export const forgetKey = () => sessionStorage.removeItem(STORAGE);

let onUnauthorized: (message: string) => void = () => undefined;
/** Called when a request made with the saved key answers 401 (revoked or expired meanwhile). */
export function whenUnauthorized(f: (message: string) => void) {
  onUnauthorized = f;
}

export async function api<T>(
  path: string,
  init: { method?: "GET" | "POST"; body?: unknown; key?: string; headers?: Record<string, string> } = {},
): Promise<T> {
  const key = init.key ?? savedKey();
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (res.ok) return body as T;
  const err = (body as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  const failure = new ApiFailure(
    res.status,
    err?.code ?? `HTTP_${res.status}`,
    err?.message ?? `the API answered ${res.status}`,
    err?.field ?? null,
    body,
  );
  if (res.status === 401 && init.key === undefined) onUnauthorized(failure.message);
  throw failure;
}

/** What a key may do in the console: its scopes as the API reports them. */
export const canSubmitDrafts = (s: Session) => s.scopes.includes("marketer") || s.scopes.includes("admin");

/** Only admin keys may adjust a member's points (the API answers 403 to any other). */
export const canAdjust = (s: Session) => s.scopes.includes("admin");

/** Checks a key by asking the API who it is; a refused key throws ApiFailure. */
export async function signIn(key: string): Promise<Session> {
  const who = await api<{ keyId: string; scopes: string[] }>("/v1/session", { key });
  saveKey(key);
  return { key, keyId: who.keyId, scopes: who.scopes };
}
