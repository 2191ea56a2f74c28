// The event-mode watermark, as a pure function of what has been consumed.
//
// An input partition can interleave records from several upstream partitions, in the order the
// ingestor happened to process their batches (when member ids are not the upstream keys, e.g. a
// namespaced source), so the highest event time seen in an input partition can run ahead of an
// upstream partition whose batch is still to come. Records name their source partition (contracts'
// SOURCE_HEADER), and within one (input partition, source) pair they arrive in the source's order:
// the pair's highest event time is how far that source has got in that partition. The watermark
// is the minimum over the pairs heard from; records that name no source count as one more source.
//
// Only pairs heard from count: which upstream partitions feed which input partition depends on the
// keys, and a pair that never delivers must not hold the watermark for ever. The price: a source
// first heard from in a partition after the watermark has passed its early events delivers those
// late (applied, flagged `late`). With member ids equal to the upstream keys (the default) each
// input partition has exactly one source and this cannot happen.

/** Highest event time consumed from one (input partition, source) pair; source "" = unnamed. */
export interface SourceClock {
  readonly partition: number;
  readonly source: string;
  readonly time: number;
}

/** The pair key of a record: its source as "<topic>/<partition>", or "" when it names none. */
export type SourceKey = string;

/** Min over the pairs heard from; null while an input partition has delivered nothing. */
export function sourceWatermark(partitions: number, clocks: readonly SourceClock[]): number | null {
  const heard = new Set<number>();
  let min = Number.POSITIVE_INFINITY;
  for (const c of clocks) {
    if (c.partition < 0 || c.partition >= partitions) continue;
    heard.add(c.partition);
    if (c.time < min) min = c.time;
  }
  return heard.size === partitions && partitions > 0 ? min : null;
}
