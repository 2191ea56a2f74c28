// Whether the rules engine has consumed its inputs to their ends, from its consumer group's
// committed offsets (Kafka's admin API). The API's expiry (ADR 13) must not pass a time the
// engine has not reached; the points topic tells how far the engine got, but a quiet partition
// of it says nothing about whether more is coming, except when the engine has nothing left.
import type { Admin } from "kafkajs";

export class EngineProgress {
  private last: string | null = null;

  constructor(
    private readonly admin: Admin,
    private readonly groupId: string,
    private readonly topics: readonly string[],
  ) {}

  /**
   * True when no input partition of the engine has anything left. A lag of one is the commit
   * marker of a transactional producer or one record still to do: it counts as the end only once
   * the committed offsets have stayed the same since the previous call (about a second before).
   */
  async caughtUp(): Promise<boolean> {
    const fetched = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [...this.topics] });
    let lag = 0;
    let beyondMarkers = 0;
    const positions: string[] = [];
    for (const t of fetched) {
      const ends = new Map(
        (await this.admin.fetchTopicOffsets(t.topic)).map((e) => [e.partition, Number(e.high)]),
      );
      for (const p of t.partitions) {
        const committed = Math.max(0, Number(p.offset));
        const behind = Math.max(0, (ends.get(p.partition) ?? 0) - committed);
        lag += behind;
        beyondMarkers += Math.max(0, behind - 1);
        positions.push(`${t.topic}/${p.partition}@${committed}`);
      }
    }
    const key = positions.join(",");
    const steady = key === this.last;
    this.last = key;
    return lag === 0 || (beyondMarkers === 0 && steady);
  }
}
