// The member API's side of the ledger commands (ADR 16 step 3): it sends redemptions,
// cancellations and adjustments to the ledger's only writer, the rules engine, on
// loyalty.ledger-commands.v1 (key = member id) and reads the engine's replies on
// loyalty.ledger-replies.v1 with one consumer per API instance (a group of its own, positioned at
// the end of the topic as it was before the API served anything). Each reply is turned into the
// HTTP answer (store/ledger.ts: answerOf) and stored with the command in api_ledger_commands,
// in api_requests (the Idempotency-Key's answer) and api_redemptions, in one transaction per
// batch of replies; then the requests waiting for it get it. Every instance settles every reply it
// reads (conditionally: the first one wins), so a request answered 202 by an instance that died
// is still answered at its status URL; and an instance sends its unanswered commands again at
// start (a reply that came while no instance was reading is asked for again: the engine answers
// a command id it applied with its recorded reply).
import { randomUUID } from "node:crypto";
import type { AvroCodec, LedgerCommand, LedgerReply, TopicSpec } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import type { Logger, StreamProducer } from "@loyalty/stream-runtime";
import type { Consumer, Kafka } from "kafkajs";
import { type Answer, pendingCommands, settleReplies } from "./store/ledger.ts";

export interface LedgerCommandsOptions {
  kafka: Kafka;
  /** The service kit's producer (acks=all is its setting, not a per-send one). */
  producer: StreamProducer;
  codec: AvroCodec;
  commands: TopicSpec;
  replies: TopicSpec;
  pool: Pool;
  /** Consumer group prefix of this service (namespace and service name); a unique suffix is added. */
  group: string;
  /** Unanswered commands sent this long before start are sent again at start (default a day). */
  resendWithinMs?: number;
  logger: Logger;
}

/** How the API talks to the ledger's owner: send a command, wait for its answer. */
export interface LedgerGateway {
  /** Sends `cmd` and waits at most `timeoutMs` for its answer; null: none came in time. */
  request(cmd: LedgerCommand, timeoutMs: number): Promise<Answer | null>;
}

export class LedgerCommands implements LedgerGateway {
  private readonly waiters = new Map<string, Set<(a: Answer) => void>>();
  private consumer: Consumer | null = null;

  constructor(private readonly o: LedgerCommandsOptions) {}

  /**
   * Joins a group of its own on the replies topic and seeks every partition to the end offsets
   * read before joining: every reply to a command sent after start() returned is read.
   */
  async start(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(this.o.replies.name).finally(() => admin.disconnect());
    const consumer = this.o.kafka.consumer({ groupId: `${this.o.group}.replies.${randomUUID()}` });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.o.replies.name], fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      // Positions are this process's own (seeked at start, never resumed by another start): no
      // offsets are committed, so the broker keeps no group offsets for the per-start groups.
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const replies: LedgerReply[] = [];
        for (const m of batch.messages) {
          if (!m.value) continue;
          try {
            replies.push(await this.o.codec.decode<LedgerReply>(m.value));
          } catch (err) {
            this.o.logger.warn({ err, offset: m.offset }, "ledger reply not decodable; skipped");
          }
        }
        if (replies.length > 0) await this.settle(replies);
        await heartbeat();
      },
    });
    await joined;
    // Replies to commands sent before this start went by unseen: ask for them again.
    const pending = await pendingCommands(this.o.pool, this.o.resendWithinMs ?? 86_400_000);
    if (pending.length > 0) {
      this.o.logger.info({ commands: pending.length }, "sending unanswered ledger commands again");
      await this.send(pending);
    }
    for (const p of ends)
      consumer.seek({ topic: this.o.replies.name, partition: p.partition, offset: p.offset });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
    for (const set of this.waiters.values()) set.clear();
    this.waiters.clear();
  }

  async request(cmd: LedgerCommand, timeoutMs: number): Promise<Answer | null> {
    let done: ((a: Answer | null) => void) | undefined;
    const answered = new Promise<Answer | null>((resolve) => {
      done = resolve;
    });
    const resolve = (a: Answer | null) => done?.(a);
    let set = this.waiters.get(cmd.commandId);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(cmd.commandId, set);
    }
    set.add(resolve);
    const timer = setTimeout(() => resolve(null), timeoutMs);
    try {
      await this.send([cmd]);
      return await answered;
    } finally {
      clearTimeout(timer);
      set.delete(resolve);
      if (set.size === 0) this.waiters.delete(cmd.commandId);
    }
  }

  private async send(cmds: readonly LedgerCommand[]): Promise<void> {
    await this.o.producer.send({
      topic: this.o.commands.name,
      messages: await Promise.all(
        cmds.map(async (cmd) => ({
          key: cmd.memberId,
          value: await this.o.codec.encode(this.o.commands, cmd),
          timestamp: String(cmd.requestedAt),
        })),
      ),
    });
  }

  /** Stores the answers of a batch of replies, then hands them to the requests waiting. */
  private async settle(replies: readonly LedgerReply[]): Promise<void> {
    const waiting = replies.some((r) => this.waiters.has(r.commandId));
    const answers = await settleReplies(
      this.o.pool,
      replies,
      waiting ? (id) => this.waiters.has(id) : () => false,
    );
    for (const [id, a] of answers) for (const w of this.waiters.get(id) ?? []) w(a);
  }
}
