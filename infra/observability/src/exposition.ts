// The Prometheus text exposition format (what /metrics answers), parsed into metric families.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;
  re.lastIndex = 0;
  while (re.lastIndex < s.length) {
    const m = re.exec(s);
    if (m === null) throw new Error(`bad labels: {${s}}`);
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

const SUFFIXES: Record<string, string[]> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count"],
};

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family => {
    const exact = families.get(sample);
    if (exact) return exact;
    for (const [type, suffixes] of Object.entries(SUFFIXES))
      for (const suffix of suffixes) {
        if (!sample.endsWith(suffix)) continue;
        const f = families.get(sample.slice(0, -suffix.length));
        if (f?.type === type) return f;
      }
    const f = { name: sample, type: "untyped", samples: [] };
    families.set(sample, f);
    return f;
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const type = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
    if (type) {
      const f = families.get(type[1]!) ?? { name: type[1]!, type: type[2]!, samples: [] };
      f.type = type[2]!;
      families.set(f.name, f);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    familyOf(m[1]!).samples.push({ name: m[1]!, labels: parseLabels(m[3] ?? ""), value: Number(m[4]) });
  }
  return families;
}

/**
 * The family a name used in PromQL belongs to: the family itself, or for a histogram's
 * `_bucket`/`_sum`/`_count` (a summary's `_sum`/`_count`) its base metric. Undefined if none,
 * and for a histogram's or summary's bare name, which names no series in Prometheus.
 */
export function resolveMetric(families: Map<string, Family>, name: string): Family | undefined {
  const exact = families.get(name);
  if (exact) return exact.type === "histogram" || exact.type === "summary" ? undefined : exact;
  for (const [type, suffixes] of Object.entries(SUFFIXES))
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const f = families.get(name.slice(0, -suffix.length));
      if (f?.type === type) return f;
    }
  return undefined;
}
