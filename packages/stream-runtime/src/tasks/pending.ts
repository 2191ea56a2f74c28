// The output of a task's last batch, kept in its stream_tasks row until Kafka has it (ADR 16).
// A compact binary form: the records are re-sent byte for byte after a crash between the
// PostgreSQL commit and the Kafka commit.
import type { OutMessage } from "../producer.ts";

/** The bytes are not a pending-output encoding this code wrote. Not retriable: a bug or corruption. */
export class PendingOutputError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "PendingOutputError";
  }
}

const VERSION = 1;

class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }
  i32(v: number): void {
    this.room(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  bytes(b: Buffer | null): void {
    if (b === null) {
      this.i32(-1);
      return;
    }
    this.i32(b.length);
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new PendingOutputError(`pending output truncated at byte ${this.pos} of ${this.buf.length}`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(): Buffer | null {
    const n = this.i32();
    if (n === -1) return null;
    if (n < 0) throw new PendingOutputError(`negative length ${n} at byte ${this.pos - 4}`);
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
  get atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}

const toBuffer = (v: Buffer | string): Buffer => (typeof v === "string" ? Buffer.from(v, "utf8") : v);

export function encodePending(messages: readonly OutMessage[]): Buffer {
  const w = new Writer();
  w.u8(VERSION);
  w.i32(messages.length);
  for (const m of messages) {
    w.bytes(Buffer.from(m.topic, "utf8"));
    w.i32(m.partition ?? -1);
    w.f64(m.timestamp ?? Number.NaN);
    w.bytes(m.key === null ? null : toBuffer(m.key));
    w.bytes(m.value);
    const headers = Object.entries(m.headers ?? {}).filter(([, v]) => v !== undefined);
    w.i32(headers.length);
    for (const [name, value] of headers) {
      const values = Array.isArray(value) ? value : [value as Buffer | string];
      w.bytes(Buffer.from(name, "utf8"));
      w.i32(values.length);
      for (const v of values) w.bytes(toBuffer(v));
    }
  }
  return w.done();
}

export function decodePending(bytes: Buffer): OutMessage[] {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== VERSION)
    throw new PendingOutputError(`pending output version ${version}, expected ${VERSION}`);
  const count = r.i32();
  const out: OutMessage[] = [];
  for (let i = 0; i < count; i++) {
    const topic = r.bytes();
    if (topic === null) throw new PendingOutputError(`record ${i} has no topic`);
    const partition = r.i32();
    const timestamp = r.f64();
    const key = r.bytes();
    const value = r.bytes();
    const headerCount = r.i32();
    const headers: Record<string, Buffer | Buffer[]> = {};
    for (let h = 0; h < headerCount; h++) {
      const name = r.bytes();
      if (name === null) throw new PendingOutputError(`record ${i} has a header without a name`);
      const n = r.i32();
      const values: Buffer[] = [];
      for (let v = 0; v < n; v++) {
        const b = r.bytes();
        if (b === null) throw new PendingOutputError(`record ${i} header ${name} has a null value`);
        values.push(b);
      }
      headers[name.toString("utf8")] = values.length === 1 ? (values[0] as Buffer) : values;
    }
    out.push({
      topic: topic.toString("utf8"),
      key,
      value,
      ...(headerCount > 0 ? { headers } : {}),
      ...(partition >= 0 ? { partition } : {}),
      ...(Number.isNaN(timestamp) ? {} : { timestamp }),
    });
  }
  if (!r.atEnd) throw new PendingOutputError("pending output has bytes after its last record");
  return out;
}
