// The value after `--name` on a bench script's command line (they take `--name value` pairs only).
export function arg(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}
