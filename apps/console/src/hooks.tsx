import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "error"; message: string }
  /** `stale`: the last refresh failed (why); `data` is the last good answer. */
  | { state: "ok"; data: T; stale: string | null; at: number };

/**
 * GETs `path` whenever it changes (null: nothing to load) and, with `refreshMs`, again every
 * `refreshMs` while the page is open: the dashboard and a member's page follow the stream without
 * a reload. A failed refresh keeps the last answer and says so.
 */
export function useApi<T>(path: string | null, refreshMs?: number): Loaded<T> {
  const [out, setOut] = useState<Loaded<T>>({ state: "loading" });
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setOut({ state: "loading" });
    const load = () =>
      api<T>(path)
        .then((data) => live && setOut({ state: "ok", data, stale: null, at: Date.now() }))
        .catch(
          (err: unknown) =>
            live &&
            setOut((prev) =>
              prev.state === "ok"
                ? { ...prev, stale: (err as Error).message }
                : { state: "error", message: (err as Error).message },
            ),
        );
    void load();
    const timer = refreshMs === undefined ? null : setInterval(load, refreshMs);
    return () => {
      live = false;
      if (timer !== null) clearInterval(timer);
    };
  }, [path, refreshMs]);
  return out;
}

/** "updated 12:00:05 UTC", or why the last refresh failed. */
export function Freshness(props: { r: Loaded<unknown> }) {
  if (props.r.state !== "ok") return null;
  return (
    <p class={props.r.stale ? "hint error" : "hint"} aria-live="polite">
      {props.r.stale
        ? `Not updated: ${props.r.stale}`
        : `Updated ${new Date(props.r.at).toISOString().slice(11, 19)} UTC; refreshes every few seconds.`}
    </p>
  );
}

export const when = (iso: string) =>
  new Date(iso)
    .toISOString()
    .replace("T", " ")
    .replace(/:\d\d\.\d{3}Z$/, " UTC");
