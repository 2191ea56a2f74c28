// Upstream member event (plain JSON or Avro-decoded members.v1) -> a valid MemberEvent.

import type { MemberEvent, MemberEventType } from "@loyalty/contracts";
import {
  customerIdField,
  enumField,
  idField,
  isRecord,
  optionalId,
  optionalString,
  own,
  revisionField,
} from "./fields.ts";
import { type Result, accept, reject, show } from "./result.ts";
import { isValidDate, timestampValue } from "./timestamps.ts";

export const MEMBER_EVENT_TYPES: readonly MemberEventType[] = ["MEMBER_REGISTERED", "MEMBER_PROFILE_UPDATED"];

const BIRTHDAY_RE = /^(?:(\d{4})|-)-(\d{2})-(\d{2})$/;

/** YYYY-MM-DD (a real date) or --MM-DD (year withheld; 29 February allowed). */
export function isValidBirthday(text: string): boolean {
  const m = BIRTHDAY_RE.exec(text);
  if (!m) return false;
  // A withheld year is checked against a leap year so that --02-29 is allowed.
  const year = m[1] === undefined ? 2000 : Number(m[1]);
  return isValidDate(year, Number(m[2]), Number(m[3]));
}

export function validateMember(input: unknown): Result<MemberEvent> {
  if (!isRecord(input))
    return reject("SCHEMA_VIOLATION", `a member event must be a JSON object, got ${show(input)}`);
  const customerId = customerIdField(input);
  if (!customerId.ok) return customerId;
  const source = idField(input, "source");
  if (!source.ok) return source;
  const type = enumField(input, "type", MEMBER_EVENT_TYPES);
  if (!type.ok) return type;
  const revision = revisionField(input);
  if (!revision.ok) return revision;
  const occurredAt = timestampValue(own(input, "occurredAt"), "occurredAt");
  if (!occurredAt.ok) return occurredAt;
  const birthday = optionalString(input, "birthday");
  if (!birthday.ok) return birthday;
  if (birthday.value !== null && !isValidBirthday(birthday.value)) {
    return reject("SCHEMA_VIOLATION", `birthday ${show(birthday.value)} is not YYYY-MM-DD or --MM-DD`);
  }
  const referrer = optionalId(input, "referrerCustomerId");
  if (!referrer.ok) return referrer;
  // A self-referral would let a member earn a referral reward from themselves.
  if (referrer.value === customerId.value) {
    return reject("SCHEMA_VIOLATION", "referrerCustomerId is the member's own customerId");
  }
  return accept({
    source: source.value,
    type: type.value,
    customerId: customerId.value,
    revision: revision.value,
    occurredAt: occurredAt.value,
    birthday: birthday.value,
    referrerCustomerId: referrer.value,
  });
}
