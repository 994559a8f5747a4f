// Compose's variable interpolation, applied to string values (never keys):
//   $VAR, ${VAR}             the value, "" (with a warning) when unset
//   ${VAR:-default}          default when unset or empty
//   ${VAR-default}           default when unset
//   ${VAR:?message}          error when unset or empty
//   ${VAR?message}           error when unset
//   ${VAR:+replacement}      replacement when set and not empty
//   ${VAR+replacement}       replacement when set
//   $$                       a literal $
// Defaults, messages and replacements are interpolated themselves, so
// `${A:-${B:-x}}` works as in compose.

export interface InterpolationContext {
  env: Record<string, string>;
  /** Called once per use of an unset variable without a default. */
  unset(name: string): void;
}

/** Thrown with a message in compose's words; the caller adds the position. */
export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, ctx: InterpolationContext): string {
  if (!text.includes("$")) return text;
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next === "{") {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw invalidFormat(text);
      out += braced(text.slice(i + 2, end), text, ctx);
      i = end + 1;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (!name) throw invalidFormat(text);
    out += lookup(name, ctx);
    i += 1 + name.length;
  }
  return out;
}

function invalidFormat(text: string): InterpolationError {
  return new InterpolationError(
    `invalid interpolation format: "${text}". You may need to escape any $ with another $`,
  );
}

/** Index of the `}` closing a `${` whose body starts at `from`, nested `${…}` skipped. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "$") {
      i++;
      continue;
    }
    if (text[i] === "$" && text[i + 1] === "{") {
      depth++;
      i++;
      continue;
    }
    if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

function lookup(name: string, ctx: InterpolationContext): string {
  const value = ctx.env[name];
  if (value === undefined) {
    ctx.unset(name);
    return "";
  }
  return value;
}

function braced(body: string, whole: string, ctx: InterpolationContext): string {
  const name = NAME.exec(body)?.[0];
  if (!name) throw invalidFormat(whole);
  const rest = body.slice(name.length);
  if (rest === "") return lookup(name, ctx);
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) throw invalidFormat(whole);
  const word = rest.slice(op.length);
  const value = ctx.env[name];
  const set = value !== undefined;
  const nonEmpty = set && value !== "";
  switch (op) {
    case ":-":
      return nonEmpty ? value : interpolate(word, ctx);
    case "-":
      return set ? value : interpolate(word, ctx);
    case ":?":
    case "?":
      if (op === ":?" ? nonEmpty : set) return value!;
      throw new InterpolationError(
        `required variable ${name} is missing a value${word ? `: ${interpolate(word, ctx)}` : ""}`,
      );
    case ":+":
      return nonEmpty ? interpolate(word, ctx) : "";
    default:
      return set ? interpolate(word, ctx) : "";
  }
}
