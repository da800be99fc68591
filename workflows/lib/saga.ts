// Compensation, as in Temporal's saga sample: after each step that changes something, push its undo; on
// failure or a stop, run them newest first. One failing undo does not stop the others: each result is
// reported, so a person knows exactly what is left to put right.
export interface CompensationResult {
  name: string;
  ok: boolean;
  error?: string;
}

export class Compensations {
  private readonly stack: Array<{ name: string; undo: () => Promise<unknown> }> = [];

  add(name: string, undo: () => Promise<unknown>): void {
    this.stack.push({ name, undo });
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
        results.push({ name, ok: false, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return results;
  }
}
