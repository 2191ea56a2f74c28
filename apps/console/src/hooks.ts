import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";

export type Loaded<T> = { state: "loading" } | { state: "error"; message: string } | { state: "ok"; data: T };

/** GETs `path` whenever it changes; null: nothing to load. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [out, setOut] = useState<Loaded<T>>({ state: "loading" });
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setOut({ state: "loading" });
    api<T>(path)
      .then((data) => live && setOut({ state: "ok", data }))
      .catch((err: unknown) => live && setOut({ state: "error", message: (err as Error).message }));
    return () => {
      live = false;
    };
  }, [path]);
  return out;
}

export const when = (iso: string) =>
  new Date(iso)
    .toISOString()
    .replace("T", " ")
    .replace(/:\d\d\.\d{3}Z$/, " UTC");
