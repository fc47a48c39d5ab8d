/** A subcommand: the command line only wires components together. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Returns the process exit status. Throws UsageError for bad input. */
  run(argv: readonly string[]): Promise<number>;
}
