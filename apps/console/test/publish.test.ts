// The console server's decision before publishing a draft (server/publish.ts), without I/O:
// review required (CONSOLE_REVIEW's default) or optional, for each state of a draft.
import { describe, expect, it } from "vitest";
import { publishRefusal, reviewPolicyOf } from "../server/publish.ts";

const draft = (
  status: "submitted" | "approved" | "rejected" | "published",
  decisions: ("approved" | "rejected")[],
) => ({
  draftId: "drf-00000000-0000-0000-0000-000000000000",
  ruleSetId: "standard",
  version: 2,
  submittedBy: "author",
  ruleSet: {},
  reviews: decisions.map((decision) => ({ decision, reviewedBy: "reviewer" })),
  status,
});

describe("publishRefusal", () => {
  it("with review required, publishes only a draft whose latest review approves it", () => {
    expect(publishRefusal(draft("submitted", []), "required")?.code).toBe("APPROVAL_REQUIRED");
    expect(publishRefusal(draft("rejected", ["rejected"]), "required")?.code).toBe("APPROVAL_REQUIRED");
    expect(publishRefusal(draft("rejected", ["approved", "rejected"]), "required")?.code).toBe(
      "APPROVAL_REQUIRED",
    );
    expect(publishRefusal(draft("approved", ["rejected", "approved"]), "required")).toBeNull();
    expect(publishRefusal(draft("published", ["approved"]), "required")?.status).toBe(409);
    expect(publishRefusal(draft("published", ["approved"]), "required")?.code).toBe("DRAFT_PUBLISHED");
  });

  it("with review optional, publishes an unreviewed draft but never a rejected one", () => {
    expect(publishRefusal(draft("submitted", []), "optional")).toBeNull();
    expect(publishRefusal(draft("approved", ["approved"]), "optional")).toBeNull();
    expect(publishRefusal(draft("rejected", ["rejected"]), "optional")?.code).toBe("DRAFT_REJECTED");
    expect(publishRefusal(draft("published", []), "optional")?.code).toBe("DRAFT_PUBLISHED");
  });

  it("reads CONSOLE_REVIEW: required by default, optional when asked, anything else refused", () => {
    expect(reviewPolicyOf({})).toBe("required");
    expect(reviewPolicyOf({ CONSOLE_REVIEW: "optional" })).toBe("optional");
    expect(() => reviewPolicyOf({ CONSOLE_REVIEW: "sometimes" })).toThrow(/CONSOLE_REVIEW/);
  });
});
