// What commands taking several names share: one API call per name, errors
// printed and carried on (as Docker does), and the inspect commands' shape.
import { ApiError } from "../client.ts";
import {
  type Command,
  type Ctx,
  FORMAT_FLAGS,
  need,
  outputFormat,
  printObjects,
} from "../context.ts";

/** Runs one API call per argument, prints each error, carries on, and fails if any failed. */
export async function eachArg(
  ctx: Ctx,
  refs: string[],
  fn: (ref: string) => Promise<void>,
  notFound?: (ref: string) => string,
): Promise<number> {
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code === "UNREACHABLE") throw err;
      failed = true;
      ctx.err(
        err.status === 404 && notFound
          ? notFound(ref)
          : `Error response from daemon: ${err.message}`,
      );
    }
  }
  return failed ? 1 : 0;
}

/** `X inspect REF...`: fetch each object (in Docker's shape), print them as JSON or through --format. */
export function inspectCommand(opts: {
  noun: string;
  synopsis: string;
  summary: string;
  notFound: (ref: string) => string;
  fetch: (ctx: Ctx, ref: string) => Promise<unknown>;
}): Command {
  const name = `${opts.noun} inspect`;
  return {
    name,
    synopsis: opts.synopsis,
    summary: opts.summary,
    flags: FORMAT_FLAGS,
    async run(ctx, args) {
      need(args, 1, opts.noun.toUpperCase(), name);
      const fmt = outputFormat(args);
      const found: unknown[] = [];
      const code = await eachArg(
        ctx,
        args.positionals,
        async (ref) => void found.push(await opts.fetch(ctx, ref)),
        opts.notFound,
      );
      printObjects(ctx, fmt, found);
      return code;
    },
  };
}

/** "running" → "Running", as Docker's tables show states. */
export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
