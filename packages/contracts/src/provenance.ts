// Where a derived record came from. The ingestor writes every purchases and member-changes record
// from one upstream partition in that partition's order, so a consumer that tracks event time per
// (its input partition, source partition) pair knows how far each upstream stream has got; the
// minimum over the pairs is a watermark no upstream partition can fall behind (ADR 8). The upstream
// partitions' own order is the producer's promise (replays publish each one in event-time order).

/** Record header: "<topic>/<partition>" of the upstream record this one was derived from. */
export const SOURCE_HEADER = "loyalty-source";

export interface SourcePartition {
  readonly topic: string;
  readonly partition: number;
}

export function sourceHeaders(topic: string, partition: number): Record<string, string> {
  return { [SOURCE_HEADER]: `${topic}/${partition}` };
}

/** The source named by a record's headers, or null when it names none (or not in that form). */
export function sourceOf(headers: Readonly<Record<string, string>>): SourcePartition | null {
  const v = headers[SOURCE_HEADER];
  if (v === undefined) return null;
  const cut = v.lastIndexOf("/");
  const partition = Number(v.slice(cut + 1));
  if (cut <= 0 || !Number.isSafeInteger(partition) || partition < 0 || String(partition) !== v.slice(cut + 1))
    return null;
  return { topic: v.slice(0, cut), partition };
}
