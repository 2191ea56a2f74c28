// Placeholder until the owning service lands; it says so instead of pretending to work.
export async function run(_args: string[]): Promise<number> {
  console.error("loyalty replay: not available yet in this build");
  return 2;
}
