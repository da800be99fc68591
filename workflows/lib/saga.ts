// Compensation, as in Temporal's saga sample: an undo is pushed before the change it undoes (so a retried
// call whose reply was lost, or a cancellation while it is in flight, is still undone); on failure or a
// stop they run newest first. One failing undo does not stop the others: each result is reported, so a
// person knows exactly what is left to put right.
export interface CompensationResult {
  name: string;
  ok: boolean;
  error?: string;
}

export class Compensations {
  private readonly stack: Array<{ name: string; undo: () => Promise<unknown> }> = [];
  /** True once any undo was registered: the run has begun to change things. */
  changed = false;

  add(name: string, undo: () => Promise<unknown>): void {
    this.stack.push({ name, undo });
    this.changed = true;
  }

  /** Drops an undo that is no longer needed because the step was reversed in the normal flow. */
  settle(name: string): void {
    const i = this.stack.map((s) => s.name).lastIndexOf(name);
    if (i >= 0) this.stack.splice(i, 1);
  }

  get pending(): string[] {
    return this.stack.map((s) => s.name);
  }

  async run(): Promise<CompensationResult[]> {
    const results: CompensationResult[] = [];
    while (this.stack.length) {
      const { name, undo } = this.stack.pop()!;
      try {
        await undo();
        results.push({ name, ok: true });
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        results.push({ name, ok: false, error: cause?.message ?? (err instanceof Error ? err.message : String(err)) });
      }
    }
    return results;
  }
}
